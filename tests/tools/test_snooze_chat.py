"""Snoozing by chat: the offline classifier reads the request, `snooze_assist` proposes the
change in the requester's time zone, approval snoozes it, the lists say until when, and the
scheduler's wake-up reopens it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from cli.seed import Seeded, seed_workspace
from core.classify.backend import OfflineBackend
from core.processing.pipeline import TaskProcessor
from core.tools.catalogue import default_registry
from models.deliverable import Deliverable
from models.task import Route, Sender, Task
from scheduler.housekeeping import SnoozeWake
from storage.db import Database
from storage.domain import Assist
from storage.types import new_id

NOW = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)  # a Wednesday: 10:30 in New York
MARIA = "maria@demo.example"


async def _seeded(db: Database) -> Seeded:
    async with db.session() as session:
        return await seed_workspace(session, now=NOW, timezone="America/New_York")


async def _say(db: Database, seeded: Seeded, text: str, at: datetime = NOW) -> list[Deliverable]:
    member = seeded.member_ids[MARIA]
    task = Task(
        id=new_id(),
        workspace_id=seeded.workspace_id,
        channel="web",
        external_id=new_id(),
        sender=Sender(channel="web", address=member),
        conversation="c",
        text=text,
        received_at=at,
        reply_route=Route(channel="web", address=member),
    )
    async with db.session() as session:
        outcome = await TaskProcessor(OfflineBackend(), default_registry()).process(
            session, task, at
        )
    return outcome.deliverables


async def _assist(db: Database, seeded: Seeded, number: int) -> Assist:
    async with db.session() as session:
        row = await session.scalar(
            select(Assist).where(
                Assist.workspace_id == seeded.workspace_id, Assist.number == number
            )
        )
        assert row is not None
        return row


async def test_snooze_by_chat_until_monday_9am_in_the_requesters_time_zone(db: Database) -> None:
    seeded = await _seeded(db)
    (reply,) = await _say(db, seeded, "snooze A-1042 until Monday 9am")
    assert reply.kind == "proposal", reply.text
    monday = datetime(2026, 11, 23, 14, tzinfo=UTC)  # 09:00 EST
    assert reply.data["proposal"]["changes"] == [
        {"label": "A-1042 status", "field": "status", "before": "open", "after": "snoozed"},
        {
            "label": "A-1042 snoozed until",
            "field": "snoozed_until",
            "before": "—",
            "after": "Mon 23 Nov 2026, 09:00 (America/New_York)",
        },
    ]
    assert "reopens by itself then, or as soon as the customer replies" in reply.text
    assert (await _assist(db, seeded, 1042)).status == "open"  # nothing changed yet

    (done,) = await _say(db, seeded, "yes")
    assert done.text.startswith("Done: snooze A-1042"), done.text
    x = await _assist(db, seeded, 1042)
    assert (x.status, x.snoozed_until) == ("snoozed", monday)

    (listed,) = await _say(db, seeded, "show snoozed assists")
    assert [i.split(" — ")[0] for i in listed.items] == [
        "A-1042 [" + x.priority + "] snoozed until Mon 23 Nov, 09:00"
    ]
    (shown,) = await _say(db, seeded, "show A-1042")
    assert "Status: snoozed until Mon 23 Nov, 09:00" in shown.text

    waker = SnoozeWake(db)
    await waker(monday - timedelta(seconds=1))  # not yet
    assert (waker.woken, (await _assist(db, seeded, 1042)).status) == (0, "snoozed")
    await waker(monday)
    assert waker.woken == 1
    assert (await _assist(db, seeded, 1042)).status == "open"


async def test_relative_snoozes_and_refusals(db: Database) -> None:
    seeded = await _seeded(db)
    (two_hours,) = await _say(db, seeded, "snooze A-1044 for 2 hours")
    assert two_hours.data["proposal"]["changes"][1]["after"] == (
        "Wed 18 Nov 2026, 12:30 (America/New_York)"
    )
    await _say(db, seeded, "approve")
    assert (await _assist(db, seeded, 1044)).snoozed_until == NOW + timedelta(hours=2)

    (tomorrow,) = await _say(db, seeded, "Snooze A-1045 till tomorrow")
    assert tomorrow.data["proposal"]["changes"][1]["after"] == (
        "Thu 19 Nov 2026, 09:00 (America/New_York)"
    )

    (far,) = await _say(db, seeded, "snooze A-1046 for 120 days")
    assert "at most 90 days" in far.text and far.kind != "proposal"
    (past,) = await _say(db, seeded, "snooze A-1046 until today 8am")
    assert "must be in the future" in past.text
    (asked,) = await _say(db, seeded, "snooze A-1046")
    assert asked.text.startswith("Until when should I snooze A-1046?")
    assert (await _assist(db, seeded, 1046)).status != "snoozed"
