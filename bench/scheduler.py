"""Scheduler benchmark: 100,000 schedules loaded (time and memory), then 10,000 of them due in
the same minute fired by a running gateway and delivered through the provider simulators
(Telegram, Twilio SMS and WhatsApp) under their rate limits. Reports the start-up load, the
time to fire them all, delivery lateness p50/p99 against the minimum the rate limits allow,
and the highest send rate each provider saw. Run: `python bench/scheduler.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import logging
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp import web
from sqlalchemy import func, insert, select, update

from api.app import build_app
from api.state import GATEWAY
from bench._http import peak_rate, percentile, write_results
from cli.seed import seed_workspace
from config import Settings
from scheduler.runner import BriefingScheduler
from storage.db import Database
from storage.domain import Schedule
from storage.journal import Accepted
from storage.models import Member, OutboxRow, TaskRow
from storage.types import utcnow
from tests.sims.telegram import TelegramSim
from tests.sims.twilio import TwilioSim

BRIEFINGS = (
    "daily_inbox_summary",
    "weekly_performance_digest",
    "weekly_knowledge_gaps",
    "monthly_roi",
)
ZONES = ("UTC", "America/New_York", "Europe/Berlin", "Asia/Tokyo", "Australia/Sydney")
SMS_FROM, WHATSAPP_FROM = "+15550009999", "whatsapp:+15550008888"
# The channels of the due briefings, in turn (40 % Telegram, 30 % SMS, 30 % WhatsApp): each
# briefing is a card and a chart (a photo, or a media link).
MIX = ("telegram", "sms", "whatsapp") * 3 + ("telegram",)
# The providers' limits the outbox keeps to (delivery/ratelimit.py): messages per second.
LIMITS = {"telegram": 30.0, "sms": 25.0, "whatsapp": 25.0}


def rss_mb() -> float:
    status = Path("/proc/self/status").read_text()
    kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS")))
    return round(kb / 1024, 1)


async def seed(db: Database, *, workspaces: int, total: int, due: int, now: datetime) -> list[int]:
    """WORKSPACES demo workspaces and TOTAL schedules, DUE of them (returned) to be set to fire
    together later; the rest fire at other times of day."""
    owners: list[tuple[str, str]] = []
    for n in range(workspaces):
        async with db.session() as session:
            seeded = await seed_workspace(
                session, name=f"Bench {n}", now=now, conversations=120, seed=n
            )
            owners.append((seeded.workspace_id, seeded.member_ids["olivia@demo.example"]))
    async with db.session() as session:
        await session.execute(update(Schedule).values(active=False))  # the seed's own
    rng = random.Random(8)
    rows: list[dict[str, Any]] = []
    # UTC hours well away from the bench's minute: only the due schedules fire during the run.
    quiet_hours = [(now.hour + h) % 24 for h in range(3, 21)]
    for i in range(total):
        ws, member = owners[i % workspaces]
        channel = MIX[i % len(MIX)]
        address = str(10_000_000 + i) if channel == "telegram" else f"+1555{2_000_000 + i:07d}"
        row: dict[str, Any] = {
            "workspace_id": ws,
            "member_id": member,
            "briefing_type": BRIEFINGS[i % len(BRIEFINGS)],
            "frequency": "daily",
            "days": [],
            "params": {},
            "channel": channel,
            "address": address,
            "active": True,
            "created_at": now - timedelta(days=1),
            "updated_at": now - timedelta(days=1),
        }
        if i < due:
            row |= {"time": "00:00", "timezone": "UTC"}  # set to the bench minute later
        else:
            frequency = rng.choice(("daily", "weekdays", "weekly", "monthly"))
            zone = "UTC" if i % 2 else rng.choice(ZONES)
            offset = now.astimezone(ZoneInfo(zone)).utcoffset() or timedelta()
            local_hour = (rng.choice(quiet_hours) + int(offset.total_seconds() // 3600)) % 24
            row |= {
                "frequency": frequency,
                "days": ["monday", "thursday"] if frequency == "weekly" else [],
                "day_of_month": rng.randint(1, 31) if frequency == "monthly" else None,
                # People pick round times: on the hour, quarter or half past.
                "time": f"{local_hour:02d}:{rng.choice((0, 0, 0, 15, 30, 30, 45)):02d}",
                "timezone": zone,
            }
        rows.append(row)
    ids: list[int] = []
    for start in range(0, total, 5000):
        async with db.session() as session:
            result = await session.execute(
                insert(Schedule).returning(Schedule.id), rows[start : start + 5000]
            )
            ids.extend(result.scalars())
    return sorted(ids)[:due]


async def measure_load(url: str) -> dict[str, float]:
    """A scheduler's start-up on its own: read and plan every active schedule."""

    async def nowhere(_task: Any) -> Accepted:
        raise AssertionError("nothing is due while loading")

    db = Database(url)
    before = rss_mb()
    started = time.perf_counter()
    scheduler = BriefingScheduler(db, nowhere)
    planned = await scheduler.load()
    seconds = time.perf_counter() - started
    after = rss_mb()
    await db.dispose()
    return {
        "schedules": planned,
        "load_seconds": round(seconds, 2),
        "rss_before_mb": before,
        "rss_after_mb": after,
        "rss_delta_mb": round(after - before, 1),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--schedules", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--workspaces", type=int, default=20)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait for delivery")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        db = Database(url)
        await db.migrate()
        began = time.perf_counter()
        due_ids = await seed(
            db, workspaces=args.workspaces, total=args.schedules, due=args.due, now=utcnow()
        )
        print(f"seeded {args.schedules:,} schedules in {time.perf_counter() - began:.1f} s")

        load = await measure_load(url)
        print(
            f"first load: {load['schedules']:,} schedules planned and their next run stored in "
            f"{load['load_seconds']} s, RSS +{load['rss_delta_mb']} MB"
        )
        restart = await measure_load(url)
        print(f"restart: planned in {restart['load_seconds']} s (next runs already stored)")

        # The due schedules fire at the next whole minute that leaves the gateway time to start.
        fire_at = (utcnow() + timedelta(seconds=90)).replace(second=0, microsecond=0)
        async with db.session() as session:
            for start in range(0, len(due_ids), 5000):
                await session.execute(
                    update(Schedule)
                    .where(Schedule.id.in_(due_ids[start : start + 5000]))
                    .values(time=f"{fire_at:%H:%M}")
                )

        async with (
            TelegramSim(enforce_limits=True) as telegram,
            TwilioSim(enforce_limits=True) as twilio,
        ):
            settings = Settings(
                _env_file=None,  # type: ignore[call-arg]
                DATABASE_URL=url,
                SWITCHBOARD_WORKERS=args.workers,
                SWITCHBOARD_SCHEDULER_POLL_INTERVAL=1.0,
                LOG_LEVEL="WARNING",
                LOG_FORMAT="text",
                TELEGRAM_BOT_TOKEN=telegram.token,
                TELEGRAM_WEBHOOK_SECRET="bench",
                TELEGRAM_API_URL=telegram.base_url,
                TWILIO_ACCOUNT_SID=twilio.account_sid,
                TWILIO_AUTH_TOKEN=twilio.auth_token,
                TWILIO_API_URL=twilio.url,
                TWILIO_SMS_FROM=SMS_FROM,
                TWILIO_WHATSAPP_FROM=WHATSAPP_FROM,
                # Briefings start the conversation: outside WhatsApp's 24-hour window they go
                # as an approved template.
                TWILIO_WHATSAPP_TEMPLATE_SID="HX" + "b" * 32,
                PUBLIC_BASE_URL="https://gw.example",
                SWITCHBOARD_SECRET_KEY="bench-secret",
            )
            runner = web.AppRunner(build_app(settings))
            started = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                await runner.setup()
            gateway = runner.app[GATEWAY]
            scheduler = gateway.scheduler
            assert scheduler is not None
            while scheduler.planned < load["schedules"]:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
            print(f"gateway up and scheduler loaded in {time.perf_counter() - started:.1f} s")
            fired_all: float | None = None
            deadline = time.monotonic() + args.timeout
            while time.monotonic() < deadline:
                await asyncio.sleep(1)
                if fired_all is None and scheduler.fired >= args.due:
                    fired_all = (utcnow() - fire_at).total_seconds()
                    print(f"all {args.due:,} fired {fired_all:.1f} s after their minute")
                async with db.session() as session:
                    waiting = await session.scalar(
                        select(func.count())
                        .select_from(OutboxRow)
                        .where(OutboxRow.status.not_in(("sent", "dead")))
                    )
                    done = await session.scalar(
                        select(func.count())
                        .select_from(TaskRow)
                        .where(TaskRow.kind == "briefing", TaskRow.status.in_(("done", "failed")))
                    )
                if done == args.due and waiting == 0:
                    break
            gateway_rss = rss_mb()
            with contextlib.redirect_stdout(io.StringIO()):
                await runner.cleanup()
            sent = {
                "telegram": [
                    r for r in telegram.requests if r.path.endswith(("/sendMessage", "/sendPhoto"))
                ],
                "sms": [
                    r
                    for r in twilio.calls("/Messages.json", method="POST")
                    if r.params.get("From") == SMS_FROM
                ],
                "whatsapp": [
                    r
                    for r in twilio.calls("/Messages.json", method="POST")
                    if r.params.get("From") == WHATSAPP_FROM
                ],
            }

        async with db.session() as session:
            rows = (
                await session.execute(
                    select(TaskRow.received_at, func.max(OutboxRow.sent_at), func.count())
                    .join(OutboxRow, OutboxRow.task_id == TaskRow.id)
                    .where(TaskRow.kind == "briefing")
                    .group_by(TaskRow.id, TaskRow.received_at)
                )
            ).all()
            outcomes = {
                status: count
                for status, count in await session.execute(
                    select(OutboxRow.status, func.count()).group_by(OutboxRow.status)
                )
            }
            errors = Counter(
                (error or "")[:120]
                for error in await session.scalars(
                    select(OutboxRow.last_error).where(OutboxRow.last_error.is_not(None))
                )
            )
            processed = await session.scalar(
                select(func.max(TaskRow.finished_at)).where(TaskRow.kind == "briefing")
            )
            failed = await session.scalar(
                select(func.count()).select_from(TaskRow).where(TaskRow.status == "failed")
            )
            members = await session.scalar(select(func.count()).select_from(Member))
        await db.dispose()

    lateness = [(last - fired).total_seconds() for fired, last, _ in rows if last is not None]
    minimum = max(len(sent[c]) / LIMITS[c] for c in LIMITS)
    drained = max(lateness, default=float("nan"))
    refused = {c: sum(1 for r in sent[c] if r.fault == "throttle") for c in sent}
    peaks = {c: peak_rate([r for r in sent[c] if r.fault is None]) for c in sent}
    results = {
        "backend": "postgresql" if url.startswith("postgresql") else "sqlite",
        "schedules": args.schedules,
        "due": args.due,
        "workspaces": args.workspaces,
        "members": members,
        "workers": args.workers,
        "first_load": load,
        "restart_load": restart,
        "fired_all_after_seconds": fired_all,
        "briefings_built_after_seconds": (
            round((processed - fire_at).total_seconds(), 1) if processed else None
        ),
        "briefings_delivered": len(lateness),
        "tasks_failed": failed,
        "outbox": outcomes,
        "outbox_errors": dict(errors.most_common(5)),
        "provider_calls": {c: len(v) for c, v in sent.items()},
        "responses_429": refused,
        "peak_calls_per_second": peaks,
        "rate_limits_per_second": LIMITS,
        "minimum_drain_seconds": round(minimum, 1),
        "drain_seconds": round(drained, 1),
        "drain_over_minimum": round(drained / minimum, 3) if minimum else None,
        "lateness_p50_seconds": round(percentile(lateness, 0.50), 1),
        "lateness_p99_seconds": round(percentile(lateness, 0.99), 1),
        "gateway_rss_mb": gateway_rss,
        "fire_minute": fire_at.astimezone(UTC).isoformat(),
    }
    for key, value in results.items():
        print(f"{key:28} {value}")
    name = "scheduler" if results["backend"] == "sqlite" else "scheduler-postgresql"
    path = write_results(name, results)
    print(f"results written to {path}")


if __name__ == "__main__":
    asyncio.run(main())
