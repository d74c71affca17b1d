"""The scheduler against the database with a controlled clock: fire times, restarts, misfires,
changes after start, one leader on PostgreSQL, and the daily housekeeping."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import asyncpg
from sqlalchemy import func, select, update
from sqlalchemy.engine import make_url

from core.classify.backend import OfflineBackend
from core.processing.pipeline import TaskProcessor
from core.tools.catalogue import default_registry
from delivery.media import MediaStore
from models.task import Route, Sender, Task
from scheduler.housekeeping import Housekeeping
from scheduler.leader import AdvisoryLock
from storage.db import Database
from storage.domain import Schedule
from storage.models import MediaObject, Member, SessionMessage
from storage.types import new_id
from tests.factories import make_member, make_workspace
from tests.helpers import wait_until
from tests.scheduler import (
    FakeClock,
    briefing_rows,
    make_scheduler,
    process_briefing,
    running_journal,
)

NY = "America/New_York"
TELEGRAM_ID = "424242"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def _team(db: Database, timezone: str = NY) -> tuple[str, str]:
    async with db.session() as session:
        ws = await make_workspace(session, plan="pro")
        member = await make_member(
            session, ws.id, role="owner", identities={"telegram": TELEGRAM_ID}
        )
        member.timezone = timezone
    return ws.id, member.id


async def _say(db: Database, workspace_id: str, member_id: str, text: str, at: datetime) -> str:
    """A web message from the member, processed at AT with the offline classifier."""
    task = Task(
        id=new_id(),
        workspace_id=workspace_id,
        channel="web",
        external_id=new_id(),
        sender=Sender(channel="web", address=member_id),
        conversation=f"web:{member_id}",
        text=text,
        received_at=at,
        reply_route=Route(channel="web", address=member_id),
    )
    processor = TaskProcessor(OfflineBackend(), default_registry())
    async with db.session() as session:
        outcome = await processor.process(session, task, at)
    return "\n".join(d.text for d in outcome.deliverables)


async def _daily(
    db: Database,
    workspace_id: str,
    member_id: str,
    *,
    at: str = "08:00",
    tz: str = "UTC",
    frequency: str = "daily",
    **kw: object,
) -> int:
    async with db.session() as session:
        row = Schedule(
            workspace_id=workspace_id,
            member_id=member_id,
            briefing_type="daily_inbox_summary",
            frequency=frequency,
            time=at,
            timezone=tz,
            channel="telegram",
            address=TELEGRAM_ID,
            **kw,
        )
        session.add(row)
        await session.flush()
        return row.id


async def test_a_schedule_asked_for_by_message_fires_at_eight_new_york_time_across_dst(
    db: Database,
) -> None:
    ws, member = await _team(db)
    asked = datetime(2026, 10, 29, 15, 0, tzinfo=UTC)
    proposal = await _say(db, ws, member, "send me a daily inbox summary on Telegram at 8am", asked)
    assert "every day at 08:00 on telegram (America/New_York)" in proposal
    code = proposal.split('Reply "approve ')[1].split('"')[0]
    done = await _say(db, ws, member, f"approve {code}", asked + timedelta(minutes=1))
    assert done.startswith("Done: schedule daily inbox summary")
    async with db.session() as session:
        schedule = (await session.scalars(select(Schedule))).one()

    clock = FakeClock(asked + timedelta(minutes=2))
    expected = [
        utc(2026, 10, 30, 12),  # 08:00 EDT
        utc(2026, 10, 31, 12),
        utc(2026, 11, 1, 13),  # 08:00 EST: the clocks went back that night
        utc(2026, 11, 2, 13),
        utc(2027, 3, 12, 13),
        utc(2027, 3, 13, 13),
        utc(2027, 3, 14, 12),  # 08:00 EDT again
        utc(2027, 3, 15, 12),
    ]
    async with running_journal(db) as journal:
        scheduler = make_scheduler(db, journal, clock)
        assert await scheduler.load() == 1
        for n, when in enumerate(expected, start=1):
            clock.set(when - timedelta(seconds=1))
            assert await scheduler.tick() == 0, f"fired before {when}"
            clock.set(when)
            assert await scheduler.tick() == 1, f"did not fire at {when}"
            assert len(await briefing_rows(db)) == n
    rows = await briefing_rows(db)
    assert [r.received_at for r in rows] == expected
    first = rows[0]
    assert first.external_id == f"schedule:{schedule.id}:2026-10-30T12:00:00+00:00"
    assert (first.sender_channel, first.sender_address) == ("schedule", member)
    assert first.reply_route == {"channel": "telegram", "address": TELEGRAM_ID, "thread": None}
    async with db.session() as session:
        stored = await session.get(Schedule, schedule.id)
        assert stored is not None
        assert stored.last_run_at == expected[-1]
        assert stored.next_run_at == utc(2027, 3, 16, 12)


async def test_a_restart_after_firing_neither_loses_nor_doubles_a_briefing(db: Database) -> None:
    ws, member = await _team(db, "UTC")
    sid = await _daily(db, ws, member, created_at=utc(2026, 11, 1))
    clock = FakeClock(utc(2026, 11, 2, 7, 59))
    async with running_journal(db) as journal:
        first = make_scheduler(db, journal, clock)
        await first.load()
        clock.set(utc(2026, 11, 2, 8))
        assert await first.tick() == 1
        # The node stops right after firing; another (or the same, restarted) takes over.
        clock.set(utc(2026, 11, 2, 8, 0, 30))
        second = make_scheduler(db, journal, clock)
        await second.load()
        assert await second.tick() == 0
        clock.set(utc(2026, 11, 3, 8))
        assert await second.tick() == 1
    assert [r.received_at for r in await briefing_rows(db, sid)] == [
        utc(2026, 11, 2, 8),
        utc(2026, 11, 3, 8),
    ]


async def test_a_crash_between_the_journal_and_the_bookkeeping_is_deduplicated(
    db: Database,
) -> None:
    ws, member = await _team(db, "UTC")
    sid = await _daily(db, ws, member, created_at=utc(2026, 11, 1))
    clock = FakeClock(utc(2026, 11, 2, 8))
    async with running_journal(db) as journal:
        crashed = make_scheduler(db, journal, clock)
        await crashed.load()
        assert await crashed.tick() == 1
        # As if the node died before recording the run: last_run_at is still empty.
        async with db.session() as session:
            await session.execute(update(Schedule).values(last_run_at=None, next_run_at=None))
        clock.set(utc(2026, 11, 2, 8, 5))
        restarted = make_scheduler(db, journal, clock)
        await restarted.load()
        assert await restarted.tick() == 0  # the same occurrence: the journal already has it
    assert len(await briefing_rows(db, sid)) == 1
    async with db.session() as session:
        stored = await session.get(Schedule, sid)
        assert stored is not None and stored.last_run_at == utc(2026, 11, 2, 8)


async def test_down_across_a_fire_time_within_the_grace_period_sends_it_once_on_start(
    db: Database,
) -> None:
    ws, member = await _team(db, "UTC")
    sid = await _daily(db, ws, member, created_at=utc(2026, 11, 1))
    clock = FakeClock(utc(2026, 11, 2, 7))
    async with running_journal(db) as journal:
        before = make_scheduler(db, journal, clock)
        await before.load()
        assert await before.tick() == 0
        await before.close()
        # Down from 07:00 to 08:40: the 08:00 briefing goes out once, on start.
        clock.set(utc(2026, 11, 2, 8, 40))
        after = make_scheduler(db, journal, clock)
        await after.load()
        assert await after.tick() == 1
        assert await after.tick() == 0
        clock.set(utc(2026, 11, 2, 8, 50))
        assert await after.tick() == 0
    rows = await briefing_rows(db, sid)
    assert [r.received_at for r in rows] == [utc(2026, 11, 2, 8)]


async def test_down_beyond_the_grace_period_skips_it_and_the_next_one_is_normal(
    db: Database,
) -> None:
    ws, member = await _team(db, "UTC")
    sid = await _daily(db, ws, member, created_at=utc(2026, 10, 1))
    # Down for days, back at 09:30: today's 08:00 is 90 minutes late (grace: 1 hour).
    clock = FakeClock(utc(2026, 11, 2, 9, 30))
    async with running_journal(db) as journal:
        scheduler = make_scheduler(db, journal, clock)
        await scheduler.load()
        assert await scheduler.tick() == 0
        assert scheduler.next_due() == utc(2026, 11, 3, 8)
        clock.set(utc(2026, 11, 3, 8))
        assert await scheduler.tick() == 1
    assert [r.received_at for r in await briefing_rows(db, sid)] == [utc(2026, 11, 3, 8)]


async def test_schedules_created_changed_and_stopped_after_start_are_picked_up(
    db: Database,
) -> None:
    ws, member = await _team(db, "UTC")
    clock = FakeClock(utc(2026, 11, 2, 6))
    async with running_journal(db) as journal:
        scheduler = make_scheduler(db, journal, clock)
        assert await scheduler.load() == 0
        # Approved at 06:00 for 07:00 today.
        sid = await _daily(db, ws, member, at="07:00", created_at=clock.now())
        await scheduler.tick()
        assert scheduler.next_due() == utc(2026, 11, 2, 7)
        # Moved to 07:30 before it ran: 07:00 passes quietly, 07:30 fires.
        async with db.session() as session:
            row = await session.get(Schedule, sid)
            assert row is not None
            row.time = "07:30"
        clock.set(utc(2026, 11, 2, 7))
        assert await scheduler.tick() == 0
        clock.set(utc(2026, 11, 2, 7, 30))
        assert await scheduler.tick() == 1
        # Stopped: tomorrow nothing goes out.
        async with db.session() as session:
            row = await session.get(Schedule, sid)
            assert row is not None
            row.active = False
        clock.set(utc(2026, 11, 3, 7, 30))
        assert await scheduler.tick() == 0
        # A one-off fires once and is then done.
        once = await _daily(
            db, ws, member, created_at=clock.now(), one_off_at=utc(2026, 11, 3, 9), frequency="once"
        )
        await scheduler.tick()
        clock.set(utc(2026, 11, 3, 9))
        assert await scheduler.tick() == 1
        clock.set(utc(2026, 11, 4, 9))
        assert await scheduler.tick() == 0
    assert [r.received_at for r in await briefing_rows(db, sid)] == [utc(2026, 11, 2, 7, 30)]
    assert [r.received_at for r in await briefing_rows(db, once)] == [utc(2026, 11, 3, 9)]
    async with db.session() as session:
        done = await session.get(Schedule, once)
        assert done is not None and (done.active, done.last_run_at) == (False, utc(2026, 11, 3, 9))


async def test_many_due_in_the_same_minute_are_fired_together(db: Database) -> None:
    ws, member = await _team(db, "UTC")
    async with db.session() as session:
        session.add_all(
            Schedule(
                workspace_id=ws,
                member_id=member,
                briefing_type="daily_inbox_summary",
                time="08:00",
                channel="telegram",
                address=TELEGRAM_ID,
                created_at=utc(2026, 11, 1),
            )
            for _ in range(1200)
        )
    clock = FakeClock(utc(2026, 11, 2, 8, 0, 20))
    async with running_journal(db) as journal:
        scheduler = make_scheduler(db, journal, clock)
        assert await scheduler.load() == 1200
        assert await scheduler.tick() == 1200
        assert await scheduler.tick() == 0
    assert len(await briefing_rows(db)) == 1200


async def test_housekeeping_prunes_session_memory_and_expired_media(db: Database) -> None:
    ws, member = await _team(db, "UTC")
    now = utc(2026, 11, 2, 3)
    async with db.session() as session:
        for age in (timedelta(hours=30), timedelta(hours=2)):
            session.add(
                SessionMessage(
                    workspace_id=ws,
                    member_id=member,
                    role="user",
                    content="hi",
                    created_at=now - age,
                )
            )
        MediaStore.add(
            session,
            workspace_id=ws,
            filename="old.png",
            content_type="image/png",
            data=b"x",
            ttl=timedelta(days=1),
            now=datetime.now(UTC) - timedelta(days=2),
        )
        MediaStore.add(
            session, workspace_id=ws, filename="new.png", content_type="image/png", data=b"y"
        )
    media = MediaStore(db, b"k" * 32, None)
    clock = FakeClock(now)
    async with running_journal(db) as journal:
        scheduler = make_scheduler(db, journal, clock, housekeeping=Housekeeping(db, media))
        await scheduler.load()
        await scheduler.tick()
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(SessionMessage)) == 1
        names = set(await session.scalars(select(MediaObject.filename)))
    assert names == {"new.png"}


class CountingLock:
    """A node's lock, counting its attempts to take the lead."""

    def __init__(self, lock: AdvisoryLock) -> None:
        self.lock = lock
        self.attempts = 0

    async def acquire(self) -> bool:
        self.attempts += 1
        return await self.lock.acquire()

    async def held(self) -> bool:
        return await self.lock.held()

    async def release(self) -> None:
        await self.lock.release()


async def test_two_nodes_on_postgresql_one_fires_and_the_other_takes_over(
    postgres_url: str,
) -> None:
    nodes = [Database(postgres_url), Database(postgres_url)]
    await nodes[0].migrate()
    ws, member = await _team(nodes[0], "UTC")
    sid = await _daily(nodes[0], ws, member, created_at=utc(2026, 11, 1))
    clock = FakeClock(utc(2026, 11, 2, 8))
    locks = [AdvisoryLock(node.engine) for node in nodes]
    follower = CountingLock(locks[1])
    async with running_journal(nodes[0]) as journal_a, running_journal(nodes[1]) as journal_b:
        # A polls its lock rarely, B retries fast: A stays frozen once it has fired, like a
        # node that hangs, until the test closes its connection.
        a = make_scheduler(nodes[0], journal_a, clock, leadership=locks[0], poll_interval=30)
        b = make_scheduler(nodes[1], journal_b, clock, leadership=follower, poll_interval=0.05)
        a.start()
        await wait_until(lambda: a.fired == 1)
        b.start()
        await wait_until(lambda: follower.attempts >= 5)  # B keeps trying while A holds it
        assert not b.is_leader and b.fired == 0
        assert len(await briefing_rows(nodes[0], sid)) == 1

        # A's node dies: its connection closes and the server releases the lock.
        pid = locks[0].backend_pid
        assert pid is not None
        url = make_url(postgres_url)
        admin = await asyncpg.connect(
            host=url.host, port=url.port or 5432, user=url.username, database=url.database
        )
        try:
            died = time.monotonic()
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()
        await wait_until(lambda: b.is_leader, timeout=30)
        assert time.monotonic() - died < 30
        clock.set(utc(2026, 11, 3, 8))
        b.wake()
        await wait_until(lambda: b.fired == 1, timeout=10)
        await b.close()
        a.stop()
        await a.close(timeout=5)
    rows = await briefing_rows(nodes[0], sid)
    assert [r.received_at for r in rows] == [utc(2026, 11, 2, 8), utc(2026, 11, 3, 8)]
    for node in nodes:
        await node.dispose()


async def test_a_member_who_left_gets_no_briefing(db: Database) -> None:
    ws, member = await _team(db, "UTC")
    sid = await _daily(db, ws, member, created_at=utc(2026, 11, 1))
    async with db.session() as session:
        await session.execute(update(Member).where(Member.id == member).values(status="inactive"))
    clock = FakeClock(utc(2026, 11, 2, 8))
    async with running_journal(db) as journal:
        scheduler = make_scheduler(db, journal, clock)
        await scheduler.load()
        await scheduler.tick()
    (row,) = await briefing_rows(db, sid)
    outcome = await process_briefing(db, row)
    assert outcome.deliverables == []
