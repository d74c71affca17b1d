"""The leader's availability round: a member whose work day starts comes online and is handed
the assists that waited, once a minute of the scheduler's clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from core.assists.records import create_assist
from scheduler.availability import AvailabilityRound
from storage.db import Database
from storage.domain import Assist
from storage.models import Member
from tests.factories import make_member, make_workspace
from tests.scheduler import FakeClock, make_scheduler, running_journal

BEFORE_WORK = datetime(2026, 11, 23, 8, 59, 30, tzinfo=UTC)  # a Monday


async def test_the_round_turns_a_member_on_at_their_start_and_hands_out(db: Database) -> None:
    async with db.session() as session:
        ws = await make_workspace(session, plan="enterprise")
        member = await make_member(session, ws.id, name="Sam", role="support")
        member.work_schedule = {"tz": None, "days": {"mon": [["09:00", "17:00"]]}}
        member.availability = "offline"
    async with db.session() as session:
        waiting = await create_assist(
            session, workspace_id=ws.id, subject="Where is my order?", summary="", now=BEFORE_WORK
        )
    assert waiting.assignee_id is None
    clock = FakeClock(BEFORE_WORK)
    async with running_journal(db) as journal:
        scheduler = make_scheduler(db, journal, clock, availability=AvailabilityRound(db))
        await scheduler.load()
        await scheduler.tick()
        clock.set(BEFORE_WORK + timedelta(seconds=40))  # 09:00:10, within the same minute
        await scheduler.tick()
        async with db.session() as session:
            sam = await session.get(Member, member.id)
            assert sam is not None and sam.availability == "offline"
        clock.set(BEFORE_WORK + timedelta(minutes=1))
        await scheduler.tick()
    async with db.session() as session:
        sam = await session.get(Member, member.id)
        assert sam is not None and sam.availability == "available"
        assignee = await session.scalar(select(Assist.assignee_id).where(Assist.id == waiting.id))
    assert assignee == member.id
