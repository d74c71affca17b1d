"""Read tools against a seeded workspace, each figure recomputed here from the rows."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from core.identity import Principal
from core.seed import Seeded, seed_workspace
from core.task import Route, Sender, Task
from core.tools.registry import ToolContext, default_registry
from storage.db import Database
from storage.domain import Assist, Conversation
from storage.types import new_id

NOW = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)  # a Wednesday


async def _seeded(db: Database) -> Seeded:
    async with db.session() as session:
        return await seed_workspace(session, now=NOW)


async def _run(
    db: Database, seeded: Seeded, tool: str, args: dict[str, Any], role: str = "owner"
) -> Any:
    registry = default_registry()
    spec = registry.get(tool)
    assert spec is not None
    member_id = seeded.member_ids["olivia@demo.example"]
    principal = Principal(
        seeded.workspace_id, "Demo Co", "enterprise", "UTC", member_id, "Olivia", role
    )
    task = Task(
        id=new_id(),
        workspace_id=seeded.workspace_id,
        channel="web",
        external_id=new_id(),
        sender=Sender(channel="web", address=member_id),
        conversation="c",
        text="",
        received_at=NOW,
        reply_route=Route(channel="web", address=member_id),
    )
    async with db.session() as session:
        ctx = ToolContext(session, principal, task, NOW, registry)
        return await spec.handler(ctx, spec.args.model_validate(args))


async def _conversations(
    db: Database, ws: str, start: datetime, end: datetime
) -> list[Conversation]:
    async with db.session() as session:
        rows = await session.scalars(
            select(Conversation).where(
                Conversation.workspace_id == ws,
                Conversation.started_at >= start,
                Conversation.started_at < end,
            )
        )
        return list(rows)


async def test_resolution_rate_this_week_matches_the_rows(db: Database) -> None:
    seeded = await _seeded(db)
    (card,) = await _run(
        db, seeded, "get_metrics", {"metric": "resolution_rate", "period": "this_week"}
    )
    monday = datetime(2026, 11, 16, tzinfo=UTC)
    rows = await _conversations(db, seeded.workspace_id, monday, NOW)
    before = await _conversations(db, seeded.workspace_id, monday - timedelta(days=7), monday)
    expected = 100 * sum(r.resolved_by_ai for r in rows) / len(rows)
    previous = 100 * sum(r.resolved_by_ai for r in before) / len(before)
    assert card.data["value"] == expected
    assert card.data["previous"] == previous
    assert f"{expected:.1f}%" in card.text
    assert f"{abs(expected - previous):.1f} points" in card.text
    assert "Next step:" in card.text


async def test_csat_and_volume_last_month(db: Database) -> None:
    seeded = await _seeded(db)
    start, end = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
    rows = await _conversations(db, seeded.workspace_id, start, end)
    (volume,) = await _run(db, seeded, "get_metrics", {"metric": "volume", "period": "last_month"})
    assert volume.data["value"] == len(rows)
    (csat,) = await _run(db, seeded, "get_metrics", {"metric": "csat", "period": "last_month"})
    scores = [r.csat for r in rows if r.csat is not None]
    assert abs(csat.data["value"] - sum(scores) / len(scores)) < 1e-9
    assert f"{sum(scores) / len(scores):.2f}/5" in csat.text


async def test_topic_breakdown_counts(db: Database) -> None:
    seeded = await _seeded(db)
    (answer,) = await _run(db, seeded, "get_topic_breakdown", {"period": "last_30_days"})
    rows = await _conversations(db, seeded.workspace_id, NOW - timedelta(days=30), NOW)
    top = Counter(r.topic for r in rows).most_common(5)
    assert answer.data["total"] == len(rows)
    assert [tuple(t) for t in answer.data["topics"]] == top
    assert answer.items[0].startswith(f"{top[0][0]}: {top[0][1]} (")


async def test_list_assists_filters_and_orders(db: Database) -> None:
    seeded = await _seeded(db)
    (answer,) = await _run(db, seeded, "list_assists", {"status": "open", "priority": "urgent"})
    async with db.session() as session:
        urgent_open = list(
            await session.scalars(
                select(Assist).where(
                    Assist.workspace_id == seeded.workspace_id,
                    Assist.status == "open",
                    Assist.priority == "urgent",
                )
            )
        )
    assert len(answer.items) == len(urgent_open) > 0
    assert {line.split()[0] for line in answer.items} == {a.ref for a in urgent_open}


async def test_workload_counts_open_assists_per_member(db: Database) -> None:
    seeded = await _seeded(db)
    (answer,) = await _run(db, seeded, "get_agent_workload", {"member": "maria"})
    async with db.session() as session:
        mine = list(
            await session.scalars(
                select(Assist).where(
                    Assist.workspace_id == seeded.workspace_id,
                    Assist.assignee_id == seeded.member_ids["maria@demo.example"],
                    Assist.status != "closed",
                )
            )
        )
    assert answer.text.startswith(f"Maria Lopez has {len(mine)} open assists")


async def test_show_assist_and_unknown_reference(db: Database) -> None:
    seeded = await _seeded(db)
    (card,) = await _run(db, seeded, "show_assist", {"assist": "A-1040"})
    assert card.title == "A-1040"
    assert "Refund not received for order #48213" in card.text
    (missing,) = await _run(db, seeded, "show_assist", {"assist": "A-9"})
    assert missing.kind == "error" and "no assist A-9" in missing.text
