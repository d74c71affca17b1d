"""Pytest plugin: a started provider simulator per test; load with ``tests.sims.fixtures``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TypeVar

import pytest_asyncio

from tests.sims.base import Simulator
from tests.sims.elevenlabs import ElevenLabsSim
from tests.sims.openai import OpenAISim
from tests.sims.sendgrid import SendGridSim
from tests.sims.slack import SlackSim
from tests.sims.telegram import TelegramSim
from tests.sims.twilio import TwilioSim

__all__ = [
    "elevenlabs_sim",
    "openai_sim",
    "sendgrid_sim",
    "slack_sim",
    "telegram_sim",
    "twilio_sim",
]

S = TypeVar("S", bound=Simulator)


async def _serve(sim: S) -> AsyncIterator[S]:
    async with sim:
        yield sim
    # A bug inside a simulator handler reaches the client as a 500 it may retry: fail loudly.
    assert not sim.handler_errors, f"{sim.name} simulator handler raised: {sim.handler_errors!r}"


@pytest_asyncio.fixture
async def slack_sim() -> AsyncIterator[SlackSim]:
    """Slack Web API; point the SDK at ``slack_sim.api_url``."""
    async for sim in _serve(SlackSim()):
        yield sim


@pytest_asyncio.fixture
async def telegram_sim() -> AsyncIterator[TelegramSim]:
    """Telegram Bot API; point the SDK at ``telegram_sim.base_url`` / ``.base_file_url``."""
    async for sim in _serve(TelegramSim()):
        yield sim


@pytest_asyncio.fixture
async def twilio_sim() -> AsyncIterator[TwilioSim]:
    """Twilio REST API; ``twilio_client_for(twilio_sim)`` gives a pointed client."""
    async for sim in _serve(TwilioSim()):
        yield sim


@pytest_asyncio.fixture
async def sendgrid_sim() -> AsyncIterator[SendGridSim]:
    """SendGrid v3; ``SendGridAPIClient(sendgrid_sim.api_key, host=sendgrid_sim.host)``."""
    async for sim in _serve(SendGridSim()):
        yield sim


@pytest_asyncio.fixture
async def elevenlabs_sim() -> AsyncIterator[ElevenLabsSim]:
    """ElevenLabs; ``AsyncElevenLabs(api_key=..., base_url=elevenlabs_sim.base_url)``."""
    async for sim in _serve(ElevenLabsSim()):
        yield sim


@pytest_asyncio.fixture
async def openai_sim() -> AsyncIterator[OpenAISim]:
    """OpenAI chat completions; ``AsyncOpenAI(base_url=openai_sim.base_url, api_key=...)``."""
    async for sim in _serve(OpenAISim()):
        yield sim


# ---------------------------------------------------------------- email providers besides SendGrid
# (imported inside each fixture: this section is appended to the module.)


@pytest_asyncio.fixture
async def postmark_sim() -> AsyncIterator[Simulator]:
    """Postmark; ``postmark.ServerClient(postmark_sim.server_token, base_url=postmark_sim.url)``."""
    from tests.sims.postmark import PostmarkSim

    async for sim in _serve(PostmarkSim()):
        yield sim


@pytest_asyncio.fixture
async def resend_sim() -> AsyncIterator[Simulator]:
    """Resend; POST ``{resend_sim.url}/emails`` with ``Bearer resend_sim.api_key``."""
    from tests.sims.resend import ResendSim

    async for sim in _serve(ResendSim()):
        yield sim


@pytest_asyncio.fixture
async def brevo_sim() -> AsyncIterator[Simulator]:
    """Brevo; ``AsyncBrevo(api_key=brevo_sim.api_key, base_url=brevo_sim.base_url)``."""
    from tests.sims.brevo import BrevoSim

    async for sim in _serve(BrevoSim()):
        yield sim
