"""Writes go through proposals: before/after, approval rules, expiry, once-only, stale, undo."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from cli.seed import Seeded, seed_workspace
from core.processing.pipeline import TaskProcessor
from core.team.identity import Principal
from core.tools.catalogue import default_registry
from models.classification import Classification, ToolCall
from models.deliverable import Deliverable
from models.task import Route, Sender, Task
from storage.db import Database
from storage.domain import Assist, AssistEvent, Proposal, Snapshot
from storage.models import OutboxRow
from storage.types import new_id

NOW = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)
OLIVIA, ADAM, MARIA, TOM = (
    "olivia@demo.example",
    "adam@demo.example",
    "maria@demo.example",
    "tom@demo.example",
)


class Scripted:
    def __init__(self, *calls: tuple[str, dict[str, Any]]) -> None:
        self.calls = calls

    async def classify(self, text: str, principal: Principal, now: Any) -> Classification:
        return Classification(calls=tuple(ToolCall(tool=t, args=a) for t, a in self.calls))


async def _seeded(db: Database) -> Seeded:
    async with db.session() as session:
        return await seed_workspace(session, now=NOW)


async def ask(
    db: Database,
    seeded: Seeded,
    who: str,
    *calls: tuple[str, dict[str, Any]],
    at: datetime = NOW,
    channel: str = "web",
) -> list[Deliverable]:
    member_id = seeded.member_ids.get(who, who)
    address = member_id if channel == "web" else who
    task = Task(
        id=new_id(),
        workspace_id=seeded.workspace_id,
        channel=channel,
        external_id=new_id(),
        sender=Sender(channel=channel, address=address),
        conversation="c",
        text="…",
        received_at=at,
        reply_route=Route(channel=channel, address=address),
    )
    async with db.session() as session:
        outcome = await TaskProcessor(Scripted(*calls), default_registry()).process(
            session, task, at
        )
    return outcome.deliverables


async def assist(db: Database, seeded: Seeded, number: int) -> Assist:
    async with db.session() as session:
        row = await session.scalar(
            select(Assist).where(
                Assist.workspace_id == seeded.workspace_id, Assist.number == number
            )
        )
        assert row is not None
        return row


async def test_priority_change_proposed_then_approved_by_the_requester(db: Database) -> None:
    seeded = await _seeded(db)
    before = (await assist(db, seeded, 1045)).priority
    (reply,) = await ask(
        db, seeded, MARIA, ("set_assist_priority", {"assist": "A-1045", "priority": "urgent"})
    )
    assert reply.kind == "proposal"
    proposal = reply.data["proposal"]
    assert proposal["changes"] == [
        {"label": "A-1045 priority", "field": "priority", "before": before, "after": "urgent"}
    ]
    assert f"{before} → urgent" in reply.text and proposal["code"] in reply.text
    assert (await assist(db, seeded, 1045)).priority == before  # nothing changed yet

    (done,) = await ask(db, seeded, MARIA, ("approve_proposal", {"code": proposal["code"]}))
    assert done.text.startswith("Done: set A-1045 to urgent priority")
    assert (await assist(db, seeded, 1045)).priority == "urgent"

    (again,) = await ask(db, seeded, MARIA, ("approve_proposal", {"code": proposal["code"]}))
    assert "already approved" in again.text  # approving twice executes once


async def test_another_member_cannot_approve_but_an_admin_can(db: Database) -> None:
    seeded = await _seeded(db)
    (reply,) = await ask(db, seeded, MARIA, ("close_assist", {"assist": "A-1041"}))
    code = reply.data["proposal"]["code"]
    (refused,) = await ask(db, seeded, TOM, ("approve_proposal", {"code": code}))
    assert refused.kind == "error" and "Only the person who asked" in refused.text
    assert (await assist(db, seeded, 1041)).status != "closed"
    (done,) = await ask(db, seeded, ADAM, ("approve_proposal", {"code": code}))
    assert done.text.startswith("Done:")
    assert (await assist(db, seeded, 1041)).status == "closed"


async def test_unlinked_identity_never_reaches_approval(db: Database) -> None:
    seeded = await _seeded(db)
    (reply,) = await ask(db, seeded, OLIVIA, ("close_assist", {"assist": "A-1042"}))
    code = reply.data["proposal"]["code"]
    (answer,) = await ask(
        db, seeded, "+15559990000", ("approve_proposal", {"code": code}), channel="sms"
    )
    assert "a person on our team" in answer.text  # the AI agent answered a customer: no tool
    async with db.session() as session:
        proposal = await session.scalar(select(Proposal).where(Proposal.code == code))
        assert proposal is not None and proposal.status == "pending"


async def test_expired_proposal_is_refused(db: Database) -> None:
    seeded = await _seeded(db)
    (reply,) = await ask(db, seeded, OLIVIA, ("close_assist", {"assist": "A-1042"}))
    code = reply.data["proposal"]["code"]
    later = NOW + timedelta(hours=24, seconds=1)
    (answer,) = await ask(db, seeded, OLIVIA, ("approve_proposal", {"code": code}), at=later)
    assert "expired" in answer.text
    assert (await assist(db, seeded, 1042)).status != "closed"


async def test_stale_value_stops_execution(db: Database) -> None:
    seeded = await _seeded(db)
    (reply,) = await ask(
        db, seeded, OLIVIA, ("assign_assist", {"assist": "A-1043", "member": "tom"})
    )
    code = reply.data["proposal"]["code"]
    async with db.session() as session:  # someone else reassigns it meanwhile
        row = await session.scalar(select(Assist).where(Assist.number == 1043))
        assert row is not None
        row.assignee_id = seeded.member_ids[ADAM]
    (answer,) = await ask(db, seeded, OLIVIA, ("approve_proposal", {"code": code}))
    assert answer.text.startswith("Stopped, nothing was changed")
    assert (await assist(db, seeded, 1043)).assignee_id == seeded.member_ids[ADAM]


async def test_compound_request_is_one_proposal_executed_in_one_go(db: Database) -> None:
    seeded = await _seeded(db)
    (reply,) = await ask(
        db,
        seeded,
        OLIVIA,
        ("set_assist_priority", {"assist": "A-1049", "priority": "urgent"}),
        ("assign_assist", {"assist": "A-1049", "member": "tom"}),
        ("add_internal_note", {"assist": "A-1049", "note": "VIP, handle today"}),
    )
    labels = [c["label"] for c in reply.data["proposal"]["changes"]]
    assert labels == ["A-1049 priority", "A-1049 assignee", "A-1049 internal note"]
    await ask(db, seeded, OLIVIA, ("approve_proposal", {}))
    row = await assist(db, seeded, 1049)
    assert (row.priority, row.assignee_id) == ("urgent", seeded.member_ids[TOM])
    async with db.session() as session:  # Tom is told it is his, with the console page
        told = list(
            await session.scalars(
                select(OutboxRow).where(
                    OutboxRow.channel == "email", OutboxRow.address == "tom@demo.example"
                )
            )
        )
    (notice,) = [o for o in told if "[A-1049] Assigned to you" in str(o.deliverable)]
    assert "/console/assists/A-1049" in notice.deliverable["text"]
    async with db.session() as session:
        notes = await session.scalar(
            select(func.count())
            .select_from(AssistEvent)
            .where(AssistEvent.assist_id == row.id, AssistEvent.body == "VIP, handle today")
        )
    assert notes == 1


async def test_bulk_close_shows_the_count_and_undo_reverts_within_30_seconds(db: Database) -> None:
    seeded = await _seeded(db)
    async with db.session() as session:
        rows = list(
            await session.scalars(
                select(Assist).where(
                    Assist.workspace_id == seeded.workspace_id,
                    Assist.priority == "low",
                    Assist.status != "closed",
                    Assist.created_at < NOW - timedelta(days=7),
                )
            )
        )
    expected = {r.number for r in rows}
    assert expected  # the seed has some
    (reply,) = await ask(
        db,
        seeded,
        OLIVIA,
        (
            "bulk_update_assists",
            {"action": "close", "filter": {"priority": "low", "older_than_days": 7}, "set": {}},
        ),
    )
    assert reply.data["proposal"]["estimated_count"] == len(expected)
    assert f"touch {len(expected)} item(s)" in reply.text
    await ask(db, seeded, OLIVIA, ("approve_proposal", {}))
    for number in expected:
        assert (await assist(db, seeded, number)).status == "closed"

    (too_late,) = await ask(db, seeded, OLIVIA, ("undo_last", {}), at=NOW + timedelta(seconds=31))
    assert "30 seconds" in too_late.text
    (undone,) = await ask(db, seeded, OLIVIA, ("undo_last", {}), at=NOW + timedelta(seconds=20))
    assert undone.text.startswith("Undone:")
    for row in rows:
        assert (await assist(db, seeded, row.number)).status == row.status


async def test_reply_is_emailed_only_after_approval(db: Database) -> None:
    seeded = await _seeded(db)
    (reply,) = await ask(
        db,
        seeded,
        OLIVIA,
        ("reply_to_assist", {"assist": "A-1040", "message": "Refund issued today."}),
    )
    assert "cannot be undone" in reply.text

    async def emails() -> list[OutboxRow]:
        async with db.session() as session:
            return list(
                await session.scalars(select(OutboxRow).where(OutboxRow.channel == "email"))
            )

    assert await emails() == []
    (done,) = await ask(db, seeded, OLIVIA, ("approve_proposal", {}))
    assert done.text.startswith("Done:"), done.text
    (sent,) = await emails()
    assert sent.address == "customer1@mail.example"
    assert sent.deliverable["text"] == "Refund issued today."
    assert "[A-1040]" in sent.deliverable["title"]
    (no_undo,) = await ask(db, seeded, OLIVIA, ("undo_last", {}))
    assert "cannot be undone" in no_undo.text


async def test_restore_snapshot_within_retention_and_not_after(db: Database) -> None:
    seeded = await _seeded(db)  # enterprise plan: 90 days
    original = (await assist(db, seeded, 1044)).priority
    await ask(
        db, seeded, OLIVIA, ("set_assist_priority", {"assist": "A-1044", "priority": "urgent"})
    )
    await ask(db, seeded, OLIVIA, ("approve_proposal", {}))
    async with db.session() as session:
        snapshot = await session.scalar(select(Snapshot).order_by(Snapshot.id.desc()))
        assert snapshot is not None
        snap_id = snapshot.id

    later = NOW + timedelta(days=89)
    (reply,) = await ask(
        db, seeded, OLIVIA, ("restore_snapshot", {"snapshot_id": snap_id}), at=later
    )
    assert reply.kind == "proposal"
    assert reply.data["proposal"]["changes"] == [
        {
            "label": "A-1044 priority (restore)",
            "field": "priority",
            "before": "urgent",
            "after": original,
        }
    ]
    assert (await assist(db, seeded, 1044)).priority == "urgent"  # still a proposal
    await ask(db, seeded, OLIVIA, ("approve_proposal", {}), at=later)
    assert (await assist(db, seeded, 1044)).priority == original

    too_old = NOW + timedelta(days=91)
    (refused,) = await ask(
        db, seeded, OLIVIA, ("restore_snapshot", {"snapshot_id": snap_id}), at=too_old
    )
    assert refused.kind == "error"
    assert "keeps snapshots for 90 days" in refused.text
