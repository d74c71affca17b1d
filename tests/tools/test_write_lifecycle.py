"""Every write tool through the same lifecycle: proposal with before/after, refusal for another
member and for an unlinked identity, expiry, double approval executing once, undo only within
30 seconds, restore only within the plan's retention."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from core import directory
from core.classify.types import Classification, ToolCall
from core.identity import Principal
from core.pipeline import TaskProcessor
from core.seed import Seeded, seed_workspace
from core.task import Route, Sender, Task
from core.tools.args import WRITE_TOOLS
from core.tools.registry import default_registry
from delivery.deliverable import Deliverable
from storage.db import Database
from storage.domain import Assist, AssistEvent, Integration, Invitation, Proposal, Snapshot
from storage.types import new_id

NOW = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)
OWNER, MANAGER = "olivia@demo.example", "tom@demo.example"
Setup = Callable[[Database, Seeded], Awaitable[None]]


async def _nothing(db: Database, seeded: Seeded) -> None:
    return None


async def _a_reply_on_a_closed_assist(db: Database, seeded: Seeded) -> None:
    async with db.session() as session:
        assist = await session.scalar(select(Assist).where(Assist.number == 1052))
        assert assist is not None
        session.add(
            AssistEvent(
                workspace_id=seeded.workspace_id,
                assist_id=assist.id,
                kind="reply",
                author="Maria Lopez",
                body="You can reset it from the sign-in page.",
                created_at=NOW - timedelta(days=3),
            )
        )


async def _an_invitation(db: Database, seeded: Seeded) -> None:
    async with db.session() as session:
        session.add(Invitation(workspace_id=seeded.workspace_id, email="jo@demo.example"))


async def _an_api_key(db: Database, seeded: Seeded) -> None:
    async with db.session() as session:
        await directory.create_api_key(session, seeded.workspace_id, name="ci")


async def _zendesk_on(db: Database, seeded: Seeded) -> None:
    async with db.session() as session:
        row = await session.scalar(select(Integration).where(Integration.name == "zendesk"))
        assert row is not None
        row.enabled = True


# tool, arguments, setup, reversible (undo and restore apply)
CASES: list[tuple[str, dict[str, Any], Setup, bool]] = [
    ("assign_assist", {"assist": "A-1042", "member": "tom"}, _nothing, True),
    ("close_assist", {"assist": "A-1043"}, _nothing, True),
    ("set_assist_priority", {"assist": "A-1045", "priority": "urgent"}, _nothing, True),
    ("reply_to_assist", {"assist": "A-1040", "message": "On it."}, _nothing, False),
    ("add_internal_note", {"assist": "A-1044", "note": "Checked the logs."}, _nothing, True),
    (
        "bulk_update_assists",
        {"action": "set_priority", "filter": {"priority": "low"}, "set": {"priority": "normal"}},
        _nothing,
        True,
    ),
    ("approve_training_suggestion", {"suggestion_id": 1}, _nothing, True),
    ("add_training_source", {"url": "https://docs.demo.example/faq"}, _nothing, True),
    (
        "edit_qa_pair",
        {"qa_id": 1, "answer": "Use the reset link on the sign-in page."},
        _nothing,
        True,
    ),
    ("remove_qa_pair", {"qa_id": 2}, _nothing, True),
    ("promote_assist_to_training", {"assist": "A-1052"}, _a_reply_on_a_closed_assist, True),
    ("update_agent_config", {"field": "tone", "value": "formal"}, _nothing, True),
    ("invite_member", {"email": "new@demo.example", "role": "support"}, _nothing, True),
    ("update_member", {"member": "sam", "role": "manager"}, _nothing, True),
    ("cancel_invitation", {"email": "jo@demo.example"}, _an_invitation, True),
    ("create_api_key", {"name": "zapier"}, _nothing, True),
    ("revoke_api_key", {"name": "ci"}, _an_api_key, True),
    (
        "schedule_briefing",
        {"briefing_type": "weekly_knowledge_gaps", "channel": "email"},
        _nothing,
        True,
    ),
    ("update_schedule", {"schedule_id": 1, "time": "09:30"}, _nothing, True),
    ("cancel_schedule", {"schedule_id": 2}, _nothing, True),
    ("toggle_integration", {"integration": "zendesk", "enabled": True}, _nothing, True),
    ("run_import", {"source": "zendesk"}, _zendesk_on, True),
    (
        "send_broadcast",
        {"message": "We are back online.", "audience": "all_customers"},
        _nothing,
        False,
    ),
    ("restore_snapshot", {"snapshot_id": 1}, _nothing, True),
]


def test_every_write_tool_is_in_the_table() -> None:
    assert {tool for tool, *_ in CASES} == set(WRITE_TOOLS)


class Scripted:
    def __init__(self, tool: str, args: dict[str, Any]) -> None:
        self.call = ToolCall(tool=tool, args=args)

    async def classify(self, text: str, principal: Principal, now: Any) -> Classification:
        return Classification(calls=(self.call,))


async def ask(
    db: Database,
    seeded: Seeded,
    who: str,
    tool: str,
    args: dict[str, Any],
    at: datetime,
    channel: str = "web",
) -> list[Deliverable]:
    address = seeded.member_ids[who] if channel == "web" else who
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
        processor = TaskProcessor(Scripted(tool, args), default_registry())
        outcome = await processor.process(session, task, at)
    return outcome.deliverables


async def status(db: Database, code: str) -> str:
    async with db.session() as session:
        row = await session.scalar(
            select(Proposal).where(Proposal.code == code).order_by(Proposal.created_at.desc())
        )
        assert row is not None
        return row.status


async def propose(
    db: Database, seeded: Seeded, tool: str, args: dict[str, Any], at: datetime
) -> dict[str, Any]:
    replies = await ask(db, seeded, OWNER, tool, args, at)
    assert [r.kind for r in replies] == ["proposal"], [r.text for r in replies]
    proposal: dict[str, Any] = replies[0].data["proposal"]
    assert proposal["changes"] or tool == "send_broadcast"
    for change in proposal["changes"]:
        assert {"label", "before", "after"} <= set(change)
    return proposal


@pytest.mark.parametrize(("tool", "args", "setup", "reversible"), CASES, ids=[c[0] for c in CASES])
async def test_write_tool_lifecycle(
    db: Database, tool: str, args: dict[str, Any], setup: Setup, reversible: bool
) -> None:
    async with db.session() as session:
        seeded = await seed_workspace(session, now=NOW)
    await setup(db, seeded)

    # Another member may not approve; an unlinked number is a customer and reaches no tool.
    first = await propose(db, seeded, tool, args, NOW)
    (other,) = await ask(db, seeded, MANAGER, "approve_proposal", {"code": first["code"]}, NOW)
    assert "Only the person who asked" in other.text
    (stranger,) = await ask(
        db, seeded, "+15557770000", "approve_proposal", {"code": first["code"]}, NOW, channel="sms"
    )
    assert "support team" in stranger.text
    assert await status(db, first["code"]) == "pending"

    # Proposals expire after 24 hours.
    expired_at = NOW + timedelta(hours=24, seconds=1)
    (late,) = await ask(db, seeded, OWNER, "approve_proposal", {"code": first["code"]}, expired_at)
    assert "expired" in late.text
    assert await status(db, first["code"]) == "expired"

    # Approving twice executes once.
    second = await propose(db, seeded, tool, args, NOW + timedelta(hours=25))
    approved_at = NOW + timedelta(hours=25, seconds=5)
    (done,) = await ask(
        db, seeded, OWNER, "approve_proposal", {"code": second["code"]}, approved_at
    )
    assert done.text.startswith("Done:"), done.text
    (again,) = await ask(
        db, seeded, OWNER, "approve_proposal", {"code": second["code"]}, approved_at
    )
    assert "already approved" in again.text
    async with db.session() as session:
        snapshots = await session.scalar(
            select(func.count()).select_from(Snapshot).where(Snapshot.proposal_id.isnot(None))
        )
        snap = await session.scalar(select(Snapshot).order_by(Snapshot.id.desc()).limit(1))
    assert snapshots == 1 and snap is not None

    # Undo only within 30 seconds; restore only within the plan's retention (enterprise: 90 d).
    (too_late,) = await ask(db, seeded, OWNER, "undo_last", {}, approved_at + timedelta(seconds=31))
    assert "30 seconds" in too_late.text or "cannot be undone" in too_late.text
    expired_restore = approved_at + timedelta(days=91)
    (old,) = await ask(
        db, seeded, OWNER, "restore_snapshot", {"snapshot_id": snap.id}, expired_restore
    )
    assert old.kind == "error"
    restore_at = approved_at + timedelta(days=1)
    (restore,) = await ask(
        db, seeded, OWNER, "restore_snapshot", {"snapshot_id": snap.id}, restore_at
    )
    if reversible:
        assert "keeps snapshots for 90 days" in old.text
        assert restore.kind == "proposal", restore.text
    else:
        assert "cannot be restored" in restore.text
        (undo,) = await ask(db, seeded, OWNER, "undo_last", {}, approved_at + timedelta(seconds=10))
        assert "cannot be undone" in undo.text
