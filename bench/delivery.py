"""Delivery benchmark: 10,000 queued replies drained by a running gateway's outbox through the
real Slack and Telegram SDKs against simulators that enforce the providers' limits (429 with
Retry-After past 1 message per second per channel or chat, 30 per second per bot).

The mix makes every limit bind at once: busy Telegram chats and Slack channels each hold as
many replies as the bot-wide limit lets out in the same time, next to many chats and channels
with two replies each. The replies are queued in the order their conversations wrote them
(each busy conversation's spread through the queue). Reports the time from the replies
becoming due to the last one recorded as sent, against the minimum the limits allow
(computed from the mix: `floor((n - 1) / limit) * window` on the busiest key), the 429s,
the most calls any key saw in one sliding second, and that none was lost or sent twice.
Run: `.venv/bin/python bench/delivery.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import logging
import math
import random
import resource
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp import web
from sqlalchemy import func, insert, select, update

from api.app import build_app
from api.state import GATEWAY
from bench._http import peak_rate, write_results
from config import Settings
from core.team import directory
from models.deliverable import Deliverable
from storage.db import Database
from storage.models import OutboxRow
from storage.types import new_id, utcnow
from tests.sims.base import Recorded
from tests.sims.slack import SlackSim
from tests.sims.telegram import TelegramSim

# Limits the simulators enforce (and delivery/ratelimit.py keeps to): (calls, window seconds).
TELEGRAM_BOT = (30, 1.0)
PER_CONVERSATION = (1, 1.0)


def plan_mix(total: int, rng: random.Random) -> list[tuple[str, str, str]]:
    """(channel, address, text) of TOTAL replies in the order they were queued.

    72 % Telegram and 28 % Slack. Telegram: two thirds of it in busy chats of `k` replies
    each, where `k` is what the bot-wide 30 per second lets out in the time the whole
    Telegram share needs; the rest in chats with two replies. Slack: channels of `k`
    replies and channels with two. Each reply gets a moment in the `k` seconds the
    conversations wrote them in (a busy conversation's evenly spread), and the queue is in
    that order.
    """
    telegram = round(total * 0.72)
    k = max(2, telegram // TELEGRAM_BOT[0])  # seconds the bot needs, so replies per busy chat
    busy_chats = (telegram * 2 // 3) // k
    light_chats = (telegram - busy_chats * k) // 2
    slack = total - busy_chats * k - light_chats * 2
    busy_channels = (slack * 6 // 7) // k
    light_channels = (slack - busy_channels * k) // 2
    odd = slack - busy_channels * k - light_channels * 2  # one reply, when the total is odd

    moments: list[tuple[float, str, str, str]] = []

    def busy(channel: str, address: str) -> None:
        for n in range(k):
            moments.append((n + rng.random(), channel, address, f"{address}/{n}"))

    def light(channel: str, address: str, replies: int) -> None:
        for n, at in enumerate(sorted(rng.uniform(0, k) for _ in range(replies))):
            moments.append((at, channel, address, f"{address}/{n}"))

    for n in range(busy_chats):
        busy("telegram", str(5_000_000 + n))
    for n in range(light_chats):
        light("telegram", str(7_000_000 + n), 2)
    for n in range(busy_channels):
        busy("slack", f"C{n:08d}")
    for n in range(light_channels):
        light("slack", f"D{n:08d}", 2)
    for n in range(odd):
        light("slack", f"E{n:08d}", 1)
    moments.sort()
    return [(channel, address, text) for _, channel, address, text in moments]


def minimum_seconds(mix: list[tuple[str, str, str]]) -> dict[str, float]:
    """The least time between the first and the last call the limits allow, per binding
    limit: n calls on a key allowing `limit` per `window` need floor((n - 1) / limit) windows."""
    per_conversation = Counter((channel, address) for channel, address, _ in mix)
    per_bot = Counter(channel for channel, _, _ in mix)

    def need(n: int, limit: tuple[int, float]) -> float:
        return math.floor((n - 1) / limit[0]) * limit[1] if n else 0.0

    bounds = {"telegram bot (30/s)": need(per_bot["telegram"], TELEGRAM_BOT)}
    for channel in ("telegram", "slack"):
        busiest = max((n for (c, _), n in per_conversation.items() if c == channel), default=0)
        name = (
            "busiest telegram chat (1/s)"
            if channel == "telegram"
            else "busiest slack channel (1/s)"
        )
        bounds[name] = need(busiest, PER_CONVERSATION)
    return bounds


def max_per_key(records: list[Recorded], key: Any) -> int:
    """The most calls one key (chat, channel) saw in any sliding second."""
    by_key: dict[Any, list[Recorded]] = defaultdict(list)
    for record in records:
        by_key[key(record)].append(record)
    return max((peak_rate(calls) for calls in by_key.values()), default=0)


async def queue(db: Database, mix: list[tuple[str, str, str]], due: Any) -> None:
    async with db.session() as session:
        workspace = await directory.create_workspace(session, "Bench")
    base = utcnow() - timedelta(hours=1)
    rows = [
        {
            "id": new_id(),
            "workspace_id": workspace.id,
            "task_id": None,
            "dedupe_key": f"bench:{n}",
            "seq": 0,
            "channel": channel,
            "address": address,
            "thread": None,
            "deliverable": Deliverable(text=text).model_dump(mode="json"),
            "status": "pending",
            "attempts": 0,
            "parts_sent": 0,
            "next_attempt_at": due,
            # The order the replies were written in.
            "created_at": base + timedelta(microseconds=n * 10),
        }
        for n, (channel, address, text) in enumerate(mix)
    ]
    for start in range(0, len(rows), 2000):
        async with db.session() as session:
            await session.execute(insert(OutboxRow), rows[start : start + 2000])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replies", type=int, default=10_000)
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait")
    parser.add_argument("--seed", type=int, default=9)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    mix = plan_mix(args.replies, random.Random(args.seed))
    bounds = minimum_seconds(mix)
    minimum = max(bounds.values())
    counts = Counter(channel for channel, _, _ in mix)
    conversations = Counter((c, a) for c, a, _ in mix)
    print(
        f"{len(mix):,} replies: {counts['telegram']:,} Telegram in "
        f"{sum(1 for c, _ in conversations if c == 'telegram'):,} chats, {counts['slack']:,} "
        f"Slack in {sum(1 for c, _ in conversations if c == 'slack'):,} channels; "
        f"minimum {minimum:.0f} s ({', '.join(f'{k} {v:.0f} s' for k, v in bounds.items())})"
    )

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        db = Database(url)
        await db.migrate()
        await queue(db, mix, due=utcnow() + timedelta(days=1))

        async with SlackSim(enforce_limits=True) as slack, TelegramSim(enforce_limits=True) as tg:
            settings = Settings(
                _env_file=None,  # type: ignore[call-arg]
                DATABASE_URL=url,
                SWITCHBOARD_WORKERS=0,
                LOG_LEVEL="WARNING",
                LOG_FORMAT="text",
                SLACK_BOT_TOKEN=slack.token,
                SLACK_SIGNING_SECRET="bench-signing-secret",
                SLACK_API_URL=slack.api_url,
                TELEGRAM_BOT_TOKEN=tg.token,
                TELEGRAM_WEBHOOK_SECRET="bench",
                TELEGRAM_API_URL=tg.base_url,
                SWITCHBOARD_SECRET_KEY="bench-secret",
            )
            runner = web.AppRunner(build_app(settings))
            with contextlib.redirect_stdout(io.StringIO()):
                await runner.setup()
            gateway = runner.app[GATEWAY]
            assert gateway.outbox is not None
            cpu_before = resource.getrusage(resource.RUSAGE_SELF)
            # Every reply becomes due at once: the drain starts now.
            started_at = utcnow()
            async with db.session() as session:
                await session.execute(update(OutboxRow).values(next_attempt_at=started_at))
            gateway.outbox.wake()
            began = time.monotonic()
            deadline = began + args.timeout
            waiting = len(mix)
            while time.monotonic() < deadline:
                await asyncio.sleep(1)
                async with db.session() as session:
                    waiting = (
                        await session.scalar(
                            select(func.count())
                            .select_from(OutboxRow)
                            .where(OutboxRow.status.not_in(("sent", "dead")))
                        )
                        or 0
                    )
                elapsed = time.monotonic() - began
                if int(elapsed) % 15 == 0:
                    print(f"  {elapsed:5.0f} s: {len(mix) - waiting:,} sent")
                if waiting == 0:
                    break
            cpu_after = resource.getrusage(resource.RUSAGE_SELF)
            with contextlib.redirect_stdout(io.StringIO()):
                await runner.cleanup()
            telegram_calls = [r for r in tg.requests if r.path.endswith("/sendMessage")]
            slack_calls = slack.calls("/chat.postMessage")
            delivered = Counter(m["text"] for m in tg.sent)
            delivered.update(m["text"] for m in slack.messages)

        async with db.session() as session:
            by_status = select(OutboxRow.status, func.count()).group_by(OutboxRow.status)
            outcomes = {status: n for status, n in await session.execute(by_status)}
            last_sent = await session.scalar(select(func.max(OutboxRow.sent_at)))
            retried = await session.scalar(
                select(func.count()).select_from(OutboxRow).where(OutboxRow.attempts > 1)
            )
        await db.dispose()

    accepted_tg = [r for r in telegram_calls if r.fault is None]
    accepted_slack = [r for r in slack_calls if r.fault is None]
    arrivals = sorted(r.at for r in (*accepted_tg, *accepted_slack))
    drained = (last_sent - started_at).total_seconds() if last_sent and not waiting else None
    expected = Counter(text for _, _, text in mix)
    results: dict[str, Any] = {
        "backend": "postgresql" if url.startswith("postgresql") else "sqlite",
        "replies": len(mix),
        "telegram_replies": counts["telegram"],
        "telegram_chats": sum(1 for c, _ in conversations if c == "telegram"),
        "slack_replies": counts["slack"],
        "slack_channels": sum(1 for c, _ in conversations if c == "slack"),
        "busiest_conversation_replies": max(conversations.values()),
        "minimum_seconds_by_limit": bounds,
        "minimum_seconds": minimum,
        "drain_seconds": round(drained, 1) if drained is not None else None,
        "drain_over_minimum": round(drained / minimum, 4) if drained and minimum else None,
        "provider_span_seconds": round(arrivals[-1] - arrivals[0], 1) if arrivals else None,
        "responses_429": sum(1 for r in (*telegram_calls, *slack_calls) if r.fault == "throttle"),
        # As the providers saw them: every request that arrived, refused or not.
        "peak_calls_per_second": {
            "telegram_bot": peak_rate(telegram_calls),
            "telegram_one_chat": max_per_key(telegram_calls, lambda r: r.params.get("chat_id")),
            "slack_one_channel": max_per_key(slack_calls, lambda r: r.params.get("channel")),
        },
        "outbox": outcomes,
        "rows_retried": retried,
        "lost": sum((expected - delivered).values()),
        "sent_twice": sum((delivered - expected).values()),
        "cpu_seconds": round(
            (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime),
            1,
        ),
    }
    for key, value in results.items():
        print(f"{key:30} {value}")
    path = write_results("delivery", results)
    print(f"results written to {path}")


if __name__ == "__main__":
    asyncio.run(main())
