"""The 7-day follow-up of a training change: recorded at approval, fired once a week later,
figures recomputed here; only where the member has a linked channel; outside the quota."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from cli.seed import Seeded, seed_workspace
from core.classify.backend import OfflineBackend
from core.processing.pipeline import TaskProcessor
from core.tools.catalogue import default_registry
from models.task import Route, Sender, Task
from storage.db import Database
from storage.domain import Conversation, Schedule, TrainingSuggestion
from storage.models import Member, Workspace
from storage.types import new_id
from tests.scheduler import (
    FakeClock,
    briefing_rows,
    make_scheduler,
    process_briefing,
    running_journal,
)

NOW = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)
APPROVED = NOW + timedelta(minutes=1)
WEEK = timedelta(days=7)
ADAM = "adam@demo.example"  # admin, linked on Telegram (100200300) and email


async def say(db: Database, ws: str, member_id: str, text: str, at: datetime) -> str:
    task = Task(
        id=new_id(),
        workspace_id=ws,
        channel="web",
        external_id=new_id(),
        sender=Sender(channel="web", address=member_id),
        conversation=f"web:{member_id}",
        text=text,
        received_at=at,
        reply_route=Route(channel="web", address=member_id),
    )
    async with db.session() as session:
        outcome = await TaskProcessor(OfflineBackend(), default_registry()).process(
            session, task, at
        )
    return "\n".join(d.text for d in outcome.deliverables)


async def approve_suggestion(db: Database, seeded: Seeded, member_id: str) -> str:
    async with db.session() as session:
        suggestion = await session.scalar(
            select(TrainingSuggestion).where(
                TrainingSuggestion.workspace_id == seeded.workspace_id,
                TrainingSuggestion.question == "Do you ship to Canada?",
            )
        )
        assert suggestion is not None
    ws = seeded.workspace_id
    proposed = await say(db, ws, member_id, f"approve training suggestion {suggestion.id}", NOW)
    code = proposed.split('Reply "approve ')[1].split('"')[0]
    return await say(db, ws, member_id, f"approve {code}", APPROVED)


async def resolution_rate(
    db: Database, ws: str, start: datetime, end: datetime
) -> tuple[float, int]:
    async with db.session() as session:
        rows = list(
            await session.scalars(
                select(Conversation).where(
                    Conversation.workspace_id == ws,
                    Conversation.started_at >= start,
                    Conversation.started_at < end,
                )
            )
        )
    return 100 * sum(r.resolved_by_ai for r in rows) / len(rows), len(rows)


async def test_approving_training_schedules_a_comparison_seven_days_later(db: Database) -> None:
    async with db.session() as session:
        seeded = await seed_workspace(session, now=NOW, plan="pro")
    ws, adam = seeded.workspace_id, seeded.member_ids[ADAM]
    done = await approve_suggestion(db, seeded, adam)
    baseline, counted = await resolution_rate(db, ws, APPROVED - WEEK, APPROVED)
    assert done.startswith("Done: approve training suggestion")
    assert done.endswith(
        f"The resolution rate over the last 7 days is {baseline:.1f}%: I'll send you how it "
        "moved on Wed 25 Nov at 15:31 (UTC), on telegram."
    )
    async with db.session() as session:
        follow_up = (
            await session.scalars(
                select(Schedule).where(Schedule.briefing_type == "training_follow_up")
            )
        ).one()
    assert (follow_up.one_off_at, follow_up.channel, follow_up.address) == (
        APPROVED + WEEK,
        "telegram",
        "100200300",
    )
    assert follow_up.params["baseline"] == baseline
    assert follow_up.params["baseline_conversations"] == counted

    # The week after: eight of ten conversations resolved by the AI.
    async with db.session() as session:
        session.add_all(
            Conversation(
                workspace_id=ws,
                topic="shipping",
                resolved_by_ai=n < 8,
                started_at=APPROVED + timedelta(hours=5 + 12 * n),
            )
            for n in range(10)
        )
    clock = FakeClock(APPROVED + timedelta(days=3))
    async with running_journal(db) as journal:
        scheduler = make_scheduler(db, journal, clock)
        await scheduler.load()
        assert await scheduler.tick() == 0
        clock.set(APPROVED + WEEK)
        assert await scheduler.tick() == 1
        clock.set(APPROVED + 2 * WEEK)
        assert await scheduler.tick() == 0
    (row,) = await briefing_rows(db, follow_up.id)
    outcome = await process_briefing(db, row)
    card, chart = outcome.deliverables
    assert outcome.route == Route(channel="telegram", address="100200300")
    assert (card.data["rate"], card.data["baseline"], card.data["conversations"]) == (
        80.0,
        baseline,
        10,
    )
    assert "- Resolution rate since: 80.0% over 10 conversations" in card.text
    assert f"- The week before: {baseline:.1f}% over {counted} conversations" in card.text
    assert f"- Change: up {80.0 - baseline:.1f} points on the period before (better)" in card.text
    assert chart.data["media"]["content_type"] == "image/png"
    async with db.session() as session:
        fired = await session.get(Schedule, follow_up.id)
        assert fired is not None and fired.active is False


async def test_the_follow_up_does_not_count_against_the_quota(db: Database) -> None:
    async with db.session() as session:
        seeded = await seed_workspace(session, now=NOW, plan="pro")
        # Fill Adam's agent up to the Pro quota of 10 recurring briefings.
        taken = len(
            list(
                await session.scalars(
                    select(Schedule).where(
                        Schedule.workspace_id == seeded.workspace_id,
                        Schedule.active.is_(True),
                    )
                )
            )
        )
        session.add_all(
            Schedule(
                workspace_id=seeded.workspace_id,
                member_id=seeded.member_ids[ADAM],
                agent_id=seeded.agent_id,
                briefing_type="daily_inbox_summary",
                channel="email",
                address=ADAM,
            )
            for _ in range(10 - taken)
        )
    done = await approve_suggestion(db, seeded, seeded.member_ids[ADAM])
    assert done.startswith("Done: ") and "I'll send you how it moved" in done
    refused = await say(
        db, seeded.workspace_id, seeded.member_ids[ADAM], "send me the ROI report monthly", APPROVED
    )
    assert refused.startswith("Your Pro plan allows 10 recurring briefings per AI agent and 10")


async def test_no_follow_up_without_a_linked_channel(db: Database) -> None:
    async with db.session() as session:
        seeded = await seed_workspace(session, now=NOW)
        loner = Member(workspace_id=seeded.workspace_id, name="Lee Loner", role="admin")
        session.add(loner)
        await session.flush()
        await session.execute(
            update(Workspace).where(Workspace.id == seeded.workspace_id).values(plan="pro")
        )
    done = await approve_suggestion(db, seeded, loner.id)
    assert done.startswith("Done: ") and "I'll send you" not in done
    async with db.session() as session:
        assert (
            await session.scalars(
                select(Schedule).where(Schedule.briefing_type == "training_follow_up")
            )
        ).first() is None


async def test_an_undone_change_gets_no_follow_up_message(db: Database) -> None:
    async with db.session() as session:
        seeded = await seed_workspace(session, now=NOW)
    ws, adam = seeded.workspace_id, seeded.member_ids[ADAM]
    await approve_suggestion(db, seeded, adam)
    undone = await say(db, ws, adam, "undo", APPROVED + timedelta(seconds=10))
    assert undone.startswith("Undone:")
    async with db.session() as session:
        follow_up = (
            await session.scalars(
                select(Schedule).where(Schedule.briefing_type == "training_follow_up")
            )
        ).one()
    clock = FakeClock(APPROVED + WEEK)
    async with running_journal(db) as journal:
        scheduler = make_scheduler(db, journal, clock)
        await scheduler.load()
        assert await scheduler.tick() == 1
    (row,) = await briefing_rows(db, follow_up.id)
    assert (await process_briefing(db, row)).deliverables == []
