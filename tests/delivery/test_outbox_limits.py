"""The providers' limits, enforced by the simulators as the providers do (429 and Retry-After),
and the real outbox with the real SDKs keeping to them: nothing refused, nothing lost or sent
twice, a conversation's replies in order."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, cast

import pytest
import telegram
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import func, select, update
from twilio.base.exceptions import TwilioRestException

from channels.slack.sender import SlackSender
from channels.telegram.outbound import TelegramSender, plan
from config.metrics import Metrics
from core.team import directory
from delivery import errors
from delivery.outbox.queue import enqueue
from delivery.outbox.worker import OutboxWorker
from delivery.ratelimit import RateLimiter
from models.deliverable import Deliverable
from models.task import Route
from storage.db import Database
from storage.models import OutboxRow
from storage.types import utcnow
from tests.helpers import wait_until
from tests.sims.base import Recorded
from tests.sims.slack import SlackSim
from tests.sims.telegram import TelegramSim
from tests.sims.twilio import TwilioSim, twilio_client_for


@pytest.fixture(autouse=True)
def _ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    # PTB warns that RetryAfter.retry_after becomes a timedelta; opt in (the sender takes both).
    monkeypatch.setenv("PTB_TIMEDELTA", "1")


@pytest.fixture
async def strict_telegram() -> AsyncIterator[TelegramSim]:
    async with TelegramSim(enforce_limits=True) as sim:
        yield sim


@pytest.fixture
async def strict_slack() -> AsyncIterator[SlackSim]:
    async with SlackSim(enforce_limits=True) as sim:
        yield sim


@pytest.fixture
async def bot(strict_telegram: TelegramSim) -> AsyncIterator[telegram.Bot]:
    async with telegram.Bot(strict_telegram.token, base_url=strict_telegram.base_url) as bot:
        yield bot


def _route(chat: str, channel: str = "telegram") -> Route:
    return Route(channel=channel, address=chat)  # type: ignore[arg-type]


async def test_the_simulators_refuse_what_exceeds_a_documented_limit(
    strict_telegram: TelegramSim, bot: telegram.Bot, strict_slack: SlackSim
) -> None:
    sender = TelegramSender(bot)
    (op,) = plan(_route("4242"), Deliverable(text="hello"))
    await sender.perform(_route("4242"), op)
    with pytest.raises(errors.RateLimited) as limited:  # a second message in the same second
        await sender.perform(_route("4242"), op)
    assert limited.value.retry_after == 1
    await sender.perform(_route("4343"), op)  # another chat is fine

    slack = SlackSender(AsyncWebClient(strict_slack.token, base_url=strict_slack.api_url), None)  # type: ignore[arg-type]
    (post,) = slack.plan(_route("C1", "slack"), Deliverable(text="hi"))
    await slack.perform(_route("C1", "slack"), post)
    with pytest.raises(errors.RateLimited):
        await slack.perform(_route("C1", "slack"), post)

    async with TwilioSim(enforce_limits=True) as twilio, TwilioSim() as lenient:
        for sim, refused in ((twilio, True), (lenient, False)):
            client = twilio_client_for(sim)
            try:
                await client.messages.create_async(to="+15550001", from_="+15559999", body="a")
                if refused:
                    with pytest.raises(TwilioRestException) as exc:
                        await client.messages.create_async(
                            to="+15550001", from_="+15559999", body="b"
                        )
                    assert exc.value.status == 429
                else:  # without the flag nothing changes for the other tests
                    await client.messages.create_async(to="+15550001", from_="+15559999", body="b")
            finally:
                await cast(Any, client.http_client).close()
    assert [r.fault for r in strict_telegram.calls("/sendMessage")] == [None, "throttle", None]


def _max_in_window(records: list[Recorded], window: float = 1.0) -> int:
    times = sorted(r.at for r in records)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


async def test_the_outbox_keeps_to_the_limits_through_the_real_sdks(
    sqlite_url: str, strict_telegram: TelegramSim, bot: telegram.Bot, strict_slack: SlackSim
) -> None:
    """40 Telegram chats with one reply and one with three, two Slack channels with two:
    the bot's 30 per second and the chats' and channels' 1 per second all bind."""
    db = Database(sqlite_url)
    await db.migrate()
    async with db.session() as session:
        ws = await directory.create_workspace(session, "Acme")
    replies = [(_route(str(1000 + n)), f"t{n}") for n in range(40)]
    replies += [(_route("777"), f"busy{n}") for n in range(3)]
    replies += [(_route(f"C{c}", "slack"), f"s{c}{n}") for c in (1, 2) for n in range(2)]
    random.Random(4).shuffle(replies)
    base = utcnow() - timedelta(seconds=10)
    async with db.session() as session:
        for n, (route, text) in enumerate(replies):
            (row_id,) = enqueue(
                session,
                workspace_id=ws.id,
                route=route,
                deliverables=[Deliverable(text=text)],
                dedupe_prefix=f"r{n}",
            )
            await session.flush()
            await session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == row_id)
                .values(created_at=base + timedelta(milliseconds=n))
            )
    slack_client = AsyncWebClient(strict_slack.token, base_url=strict_slack.api_url)
    worker = OutboxWorker(
        db,
        {"telegram": TelegramSender(bot), "slack": SlackSender(slack_client, None)},  # type: ignore[arg-type]
        node_id="n1",
        metrics=Metrics(),
        limiter=RateLimiter(),
        poll_interval=0.05,
    )
    running = asyncio.create_task(worker.run())
    try:

        async def all_sent() -> bool:
            async with db.session() as session:
                waiting = await session.scalar(
                    select(func.count()).where(OutboxRow.status != "sent")
                )
            return waiting == 0

        await wait_until(all_sent, timeout=30, interval=0.1, message="every reply sent")
    finally:
        worker.stop()
        await running
        await db.dispose()

    telegram_calls = strict_telegram.calls("/sendMessage")
    slack_calls = strict_slack.calls("/chat.postMessage")
    assert [r for r in (*telegram_calls, *slack_calls) if r.fault is not None] == []
    assert _max_in_window(telegram_calls) <= 30
    sent = Counter(m["text"] for m in strict_telegram.sent)
    sent.update(m["text"] for m in strict_slack.messages)
    assert sent == Counter(text for _, text in replies)  # each exactly once

    def written(address: str) -> list[str]:
        return [text for route, text in replies if route.address == address]

    # A conversation's replies in the order they were written.
    assert [m["text"] for m in strict_telegram.messages(777)] == written("777")
    for channel in ("C1", "C2"):
        assert [m["text"] for m in strict_slack.posted(channel)] == written(channel)
