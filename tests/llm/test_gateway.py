"""The gateway over real HTTP: failover, the breaker, Retry-After, and the offline last resort."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from config.metrics import Metrics
from core.classify.backend import OfflineBackend
from core.classify.llm import LlmClassifier, answer_message
from core.llm.gateway import (
    AllEndpointsFailed,
    LlmConfigError,
    LlmGateway,
    endpoints_from_settings,
    retry_after_seconds,
)
from core.tools.catalogue import build_registry
from models.classification import ToolCall
from tests.conftest import make_settings
from tests.llm import FakeClock, principal
from tests.llm.conftest import GatewayFactory
from tests.sims.openai import OpenAISim

NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
CHAT = "/v1/chat/completions"


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def classifier(gateway: LlmGateway, metrics: Metrics) -> LlmClassifier:
    return LlmClassifier(gateway, build_registry(), offline=OfflineBackend(), metrics=metrics)


async def test_a_500_fails_over_to_the_next_endpoint(
    openai_sim: OpenAISim, backup_sim: OpenAISim, make_gateway: GatewayFactory, metrics: Metrics
) -> None:
    openai_sim.fail(500)
    backup_sim.reply_tool_calls([("get_metrics", {"metric": "csat", "period": "this_week"})])

    result = await classifier(make_gateway(openai_sim, backup_sim), metrics).classify(
        "csat this week?", principal(), NOW
    )

    assert result.calls == (
        ToolCall(tool="get_metrics", args={"metric": "csat", "period": "this_week"}),
    )
    assert result.backend == "llm"
    assert result.usage is not None and result.usage.endpoint == "fallback-1"
    assert len(openai_sim.chat_requests()) == 1
    assert len(backup_sim.chat_requests()) == 1
    # The backup got the same conversation, with its own key.
    assert backup_sim.last_chat_request()["messages"] == openai_sim.last_chat_request()["messages"]
    assert backup_sim.last(CHAT).headers["Authorization"] == f"Bearer {backup_sim.api_key}"
    assert (
        sample(metrics, "switchboard_llm_failures_total", endpoint="primary", reason="server_error")
        == 1
    )
    assert sample(metrics, "switchboard_llm_calls_total", endpoint="fallback-1") == 1


async def test_an_endpoint_that_stalls_past_the_timeout_fails_over(
    openai_sim: OpenAISim, backup_sim: OpenAISim, make_gateway: GatewayFactory, metrics: Metrics
) -> None:
    openai_sim.stall()
    backup_sim.reply_text("Resolution rate is up 4 points this week.")
    gateway = make_gateway(openai_sim, backup_sim, call_timeout=0.3)

    result = await classifier(gateway, metrics).classify("how are we doing?", principal(), NOW)

    assert result.reply == "Resolution rate is up 4 points this week."
    assert result.usage is not None and result.usage.endpoint == "fallback-1"
    assert len(openai_sim.chat_requests()) == 1
    assert (
        sample(metrics, "switchboard_llm_failures_total", endpoint="primary", reason="timeout") == 1
    )


async def test_malformed_answers_fail_over(
    openai_sim: OpenAISim, backup_sim: OpenAISim, make_gateway: GatewayFactory, metrics: Metrics
) -> None:
    gateway = make_gateway(openai_sim, backup_sim, failure_threshold=5)
    llm = classifier(gateway, metrics)
    openai_sim.malformed()  # an HTML error page claiming to be JSON
    backup_sim.reply_text("first")
    openai_sim.reply_text("")  # a completion with neither text nor tool calls
    backup_sim.reply_text("second")

    first = await llm.classify("hello", principal(), NOW)
    second = await llm.classify("hello again", principal(), NOW)

    assert (first.reply, second.reply) == ("first", "second")
    assert (
        sample(metrics, "switchboard_llm_failures_total", endpoint="primary", reason="malformed")
        == 2
    )


async def test_an_endpoint_nobody_listens_on_fails_over(
    backup_sim: OpenAISim, make_gateway: GatewayFactory, metrics: Metrics
) -> None:
    gone = await OpenAISim().start()
    await gone.close()  # its port now refuses connections
    backup_sim.reply_text("here")

    result = await classifier(make_gateway(gone, backup_sim), metrics).classify(
        "hi", principal(), NOW
    )

    assert result.reply == "here"
    assert (
        sample(metrics, "switchboard_llm_failures_total", endpoint="primary", reason="connection")
        == 1
    )


async def test_the_breaker_stops_calls_to_a_dead_endpoint_probes_once_and_closes(
    openai_sim: OpenAISim,
    backup_sim: OpenAISim,
    make_gateway: GatewayFactory,
    metrics: Metrics,
    clock: FakeClock,
) -> None:
    gateway = make_gateway(openai_sim, backup_sim, failure_threshold=2, cool_down=30)
    llm = classifier(gateway, metrics)
    openai_sim.fail(500, times=None)

    for _ in range(4):
        result = await llm.classify("hi", principal(), NOW)
        assert result.usage is not None and result.usage.endpoint == "fallback-1"

    # Two failures opened it: the third and fourth requests never reached the dead endpoint.
    assert len(openai_sim.chat_requests()) == 2
    assert len(backup_sim.chat_requests()) == 4
    assert gateway.breaker("primary").state == "open"
    assert sample(metrics, "switchboard_llm_breaker_state", endpoint="primary") == 2

    # Still cooling down: nothing is sent.
    clock.advance(29)
    await llm.classify("hi", principal(), NOW)
    assert len(openai_sim.chat_requests()) == 2

    # The cool-down is over and the endpoint has recovered. Hold the probe in flight to see
    # that it is the only request let through meanwhile.
    clock.advance(1)
    openai_sim.clear_faults()
    openai_sim.stall()
    assert sample(metrics, "switchboard_llm_breaker_state", endpoint="primary") == 1
    probe = asyncio.create_task(llm.classify("probe", principal(), NOW))
    await openai_sim.wait_for(3, path=CHAT)
    during = await llm.classify("meanwhile", principal(), NOW)
    assert during.usage is not None and during.usage.endpoint == "fallback-1"
    assert len(openai_sim.chat_requests()) == 3

    openai_sim.release_stalled()
    probed = await probe
    assert probed.usage is not None and probed.usage.endpoint == "primary"
    assert gateway.breaker("primary").state == "closed"
    assert sample(metrics, "switchboard_llm_breaker_state", endpoint="primary") == 0

    after = await llm.classify("and now?", principal(), NOW)
    assert after.usage is not None and after.usage.endpoint == "primary"


async def test_a_failed_probe_opens_the_breaker_again(
    openai_sim: OpenAISim,
    backup_sim: OpenAISim,
    make_gateway: GatewayFactory,
    metrics: Metrics,
    clock: FakeClock,
) -> None:
    gateway = make_gateway(openai_sim, backup_sim, failure_threshold=1, cool_down=30)
    llm = classifier(gateway, metrics)
    openai_sim.fail(503, times=None)
    await llm.classify("hi", principal(), NOW)
    clock.advance(30)

    await llm.classify("probe", principal(), NOW)  # the probe fails too
    await llm.classify("again", principal(), NOW)

    assert len(openai_sim.chat_requests()) == 2  # the first failure and the one probe
    assert gateway.breaker("primary").state == "open"


async def test_a_probe_abandoned_by_its_caller_lets_the_next_request_probe(
    openai_sim: OpenAISim,
    backup_sim: OpenAISim,
    make_gateway: GatewayFactory,
    metrics: Metrics,
    clock: FakeClock,
) -> None:
    gateway = make_gateway(openai_sim, backup_sim, failure_threshold=1, cool_down=30)
    llm = classifier(gateway, metrics)
    openai_sim.fail(500)
    await llm.classify("hi", principal(), NOW)
    clock.advance(30)
    openai_sim.stall()
    probe = asyncio.create_task(llm.classify("probe", principal(), NOW))
    await openai_sim.wait_for(2, path=CHAT)

    probe.cancel()  # e.g. the worker shuts down mid-call
    with pytest.raises(asyncio.CancelledError):
        await probe
    result = await llm.classify("next", principal(), NOW)

    assert result.usage is not None and result.usage.endpoint == "primary"
    assert gateway.breaker("primary").state == "closed"


async def test_a_short_retry_after_is_waited_out_on_the_same_endpoint(
    openai_sim: OpenAISim,
    backup_sim: OpenAISim,
    make_gateway: GatewayFactory,
    metrics: Metrics,
    clock: FakeClock,
) -> None:
    openai_sim.throttle(retry_after=1)
    openai_sim.reply_text("after the wait")

    result = await classifier(make_gateway(openai_sim, backup_sim), metrics).classify(
        "hi", principal(), NOW
    )

    assert result.reply == "after the wait"
    assert clock.slept == [1.0]
    assert len(openai_sim.chat_requests()) == 2
    assert backup_sim.chat_requests() == []
    assert (
        sample(metrics, "switchboard_llm_failures_total", endpoint="primary", reason="rate_limited")
        == 1
    )


async def test_a_second_429_after_the_wait_fails_over(
    openai_sim: OpenAISim,
    backup_sim: OpenAISim,
    make_gateway: GatewayFactory,
    metrics: Metrics,
    clock: FakeClock,
) -> None:
    openai_sim.throttle(retry_after=1, times=2)
    backup_sim.reply_text("from the backup")

    result = await classifier(make_gateway(openai_sim, backup_sim), metrics).classify(
        "hi", principal(), NOW
    )

    assert result.reply == "from the backup"
    assert clock.slept == [1.0]  # waited once, not twice
    assert len(openai_sim.chat_requests()) == 2


async def test_a_retry_after_longer_than_the_budget_fails_over_and_cools_the_endpoint(
    openai_sim: OpenAISim,
    backup_sim: OpenAISim,
    make_gateway: GatewayFactory,
    metrics: Metrics,
    clock: FakeClock,
) -> None:
    gateway = make_gateway(openai_sim, backup_sim, request_budget=30)
    llm = classifier(gateway, metrics)
    openai_sim.throttle(retry_after=120)

    first = await llm.classify("hi", principal(), NOW)
    clock.advance(119)
    second = await llm.classify("hi", principal(), NOW)

    assert clock.slept == []
    assert first.usage is not None and first.usage.endpoint == "fallback-1"
    assert second.usage is not None and second.usage.endpoint == "fallback-1"
    assert len(openai_sim.chat_requests()) == 1  # not asked again while it said to wait

    clock.advance(1)
    third = await llm.classify("hi", principal(), NOW)
    assert third.usage is not None and third.usage.endpoint == "primary"
    assert gateway.breaker("primary").state == "closed"


async def test_when_every_endpoint_fails_the_offline_classifier_answers(
    openai_sim: OpenAISim, backup_sim: OpenAISim, make_gateway: GatewayFactory, metrics: Metrics
) -> None:
    openai_sim.fail(500, times=None)
    backup_sim.fail(502, times=None)
    llm = classifier(make_gateway(openai_sim, backup_sim, failure_threshold=1), metrics)

    first = await llm.classify("close A-1042", principal(), NOW)
    # Both breakers are open now: the next request is answered offline without any call.
    second = await llm.classify("set A-7 to urgent", principal(), NOW)

    assert first.backend == "offline" and first.usage is None
    assert [(c.tool, c.args["assist"]) for c in first.calls] == [("close_assist", "A-1042")]
    assert second.backend == "offline"
    assert [(c.tool, c.args) for c in second.calls] == [
        ("set_assist_priority", {"assist": "A-7", "priority": "urgent"})
    ]
    assert len(openai_sim.chat_requests()) == 1
    assert len(backup_sim.chat_requests()) == 1
    assert sample(metrics, "switchboard_llm_offline_fallbacks_total") == 2


async def test_the_gateway_says_why_every_endpoint_failed(
    openai_sim: OpenAISim, backup_sim: OpenAISim, make_gateway: GatewayFactory
) -> None:
    openai_sim.fail(500)
    backup_sim.fail(401)
    gateway = make_gateway(openai_sim, backup_sim)

    with pytest.raises(AllEndpointsFailed) as raised:
        await gateway.complete([{"role": "user", "content": "hi"}], tools=[], parse=answer_message)

    assert raised.value.reasons == ("primary: server_error", "fallback-1: client_error")


def test_endpoints_come_from_openai_settings_then_the_fallbacks_in_order() -> None:
    settings = make_settings(
        "sqlite+aiosqlite:///unused.db",
        OPENAI_API_KEY="sk-main-0000000000000000",
        OPENAI_BASE_URL="http://127.0.0.1:9001/v1",
        OPENAI_MODEL="gpt-4o",
        LLM_FALLBACKS="http://127.0.0.1:9002/v1|gpt-4o-mini|BACKUP_KEY,"
        "http://127.0.0.1:9003/v1,http://127.0.0.1:9004/v1||UNSET_KEY",
    )

    endpoints = endpoints_from_settings(settings, environ={"BACKUP_KEY": "sk-backup-1111"})

    assert [(e.name, e.base_url, e.model, e.api_key) for e in endpoints] == [
        ("primary", "http://127.0.0.1:9001/v1", "gpt-4o", "sk-main-0000000000000000"),
        ("fallback-1", "http://127.0.0.1:9002/v1", "gpt-4o-mini", "sk-backup-1111"),
        ("fallback-2", "http://127.0.0.1:9003/v1", "gpt-4o", "sk-main-0000000000000000"),
        ("fallback-3", "http://127.0.0.1:9004/v1", "gpt-4o", "sk-main-0000000000000000"),
    ]
    assert all("sk-" not in repr(e) for e in endpoints)


def test_no_endpoints_without_an_api_key_and_a_clear_error_for_a_bad_entry() -> None:
    assert endpoints_from_settings(make_settings("sqlite+aiosqlite:///unused.db")) == []
    bad = make_settings(
        "sqlite+aiosqlite:///unused.db",
        OPENAI_API_KEY="sk-main-0000000000000000",
        LLM_FALLBACKS="http://127.0.0.1:9002/v1|m|K|extra",
    )
    with pytest.raises(LlmConfigError, match="LLM_FALLBACKS"):
        endpoints_from_settings(bad, environ={})


def test_retry_after_reads_milliseconds_seconds_and_dates() -> None:
    now = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
    assert retry_after_seconds({"retry-after-ms": "1500"}) == 1.5
    assert retry_after_seconds({"retry-after": "7"}) == 7.0
    date = "Tue, 10 Mar 2026 09:31:00 GMT"
    assert retry_after_seconds({"retry-after": date}, now=lambda: now) == 60.0
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None
