"""Every write tool through the same lifecycle: proposal with before/after, refusal for another
member and for an unlinked identity, expiry, double approval executing once, undo only within
30 seconds, restore only within the plan's retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from cli.seed import Seeded, seed_workspace
from core.tools.args import WRITE_TOOLS
from storage.db import Database
from storage.domain import Proposal, Snapshot
from tests.write_cases import CASES, Setup, ask

NOW = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)
OWNER, MANAGER = "olivia@demo.example", "tom@demo.example"


def test_every_write_tool_is_in_the_table() -> None:
    assert {tool for tool, *_ in CASES} == set(WRITE_TOOLS)


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
    await setup(db, seeded, NOW)

    # Another member may not approve; an unlinked number is a customer and reaches no tool.
    first = await propose(db, seeded, tool, args, NOW)
    (other,) = await ask(db, seeded, MANAGER, "approve_proposal", {"code": first["code"]}, NOW)
    assert "Only the person who asked" in other.text
    (stranger,) = await ask(
        db, seeded, "+15557770000", "approve_proposal", {"code": first["code"]}, NOW, channel="sms"
    )
    assert "a person on our team" in stranger.text  # the AI agent's answer to a customer
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
