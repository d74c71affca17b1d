"""Fixtures: a second OpenAI-compatible endpoint, a controlled clock, gateways closed after use."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio

from config.metrics import Metrics
from core.llm.gateway import LlmGateway
from tests.llm import FakeClock, endpoint
from tests.sims.openai import OpenAISim

GatewayFactory = Callable[..., LlmGateway]


@pytest_asyncio.fixture
async def backup_sim() -> AsyncIterator[OpenAISim]:
    """A second provider with its own key, for failover."""
    async with OpenAISim(api_key="sk-sim-backup-1111111111111111") as sim:
        yield sim
    assert not sim.handler_errors, sim.handler_errors


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest_asyncio.fixture
async def make_gateway(clock: FakeClock, metrics: Metrics) -> AsyncIterator[GatewayFactory]:
    """`make_gateway(sim_a, sim_b, **options)`: endpoints "primary", "fallback-1", ... in order,
    on the test's clock and metrics; every gateway is closed at the end."""
    made: list[LlmGateway] = []

    def factory(*sims: OpenAISim, **options: Any) -> LlmGateway:
        names = ["primary", *(f"fallback-{n}" for n in range(1, len(sims)))]
        options.setdefault("clock", clock)
        options.setdefault("sleep", clock.sleep)
        options.setdefault("metrics", metrics)
        gateway = LlmGateway(
            [endpoint(sim, name) for sim, name in zip(sims, names, strict=True)], **options
        )
        made.append(gateway)
        return gateway

    yield factory
    for gateway in made:
        await gateway.aclose()
