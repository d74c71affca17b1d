"""What every write tool drafts with: a field's change, a new row, ids reserved at draft time."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.approvals.proposals import CREATE, Change
from core.tools.registry import ToolContext
from storage.domain import Proposal
from storage.models import Base, Member


def iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def short(value: str, limit: int = 120) -> str:
    return value if len(value) <= limit else value[: limit - 3] + "..."


def set_field(
    entity: str,
    row: Any,
    name: str,
    after: Any,
    label: str,
    shown: tuple[str, str] | None = None,
) -> Change:
    """A change of one field (`settings.x` for a key of a JSON column) from its current value."""
    head, _, rest = name.partition(".")
    current = getattr(row, head)
    before = (current or {}).get(rest) if rest else iso(current)
    return Change(
        entity=entity,
        key=str(row.id),
        field=name,
        before=before,
        after=after,
        label=label,
        shown_before=shown[0] if shown else None,
        shown_after=shown[1] if shown else None,
    )


def create_row(entity: str, row: dict[str, Any], label: str, shown: str) -> Change:
    return Change(
        entity=entity,
        key=str(row["id"]),
        field=CREATE,
        before=None,
        after=row,
        label=label,
        shown_before="—",
        shown_after=shown,
    )


def stable_id(*parts: str) -> str:
    # For rows unique on a natural key (an invitation per email, an integration per name): two
    # pending proposals creating the same row share its id, so the second one to be approved
    # stops with "exists already" instead of tripping the unique constraint.
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


async def reserve_id(ctx: ToolContext, model: type[Base], entity: str) -> int:
    """An integer id for a row a proposal will create (its key must be known at draft time).

    PostgreSQL: `nextval` reserves it for good. SQLite (one node): one past the highest id in
    the table, in this workspace's pending proposals and in this request; a clash left over
    (another workspace on the same file) stops execution as stale, changing nothing."""
    session = ctx.session
    table = str(model.__tablename__)
    reserved: dict[str, int] = session.info.setdefault("writes.reserved_ids", {})
    if session.get_bind().dialect.name == "postgresql":
        value = int(
            await session.scalar(
                text("SELECT nextval(pg_get_serial_sequence(:table, 'id'))"), {"table": table}
            )
        )
    else:
        column = model.__table__.c.id
        highest = int(await session.scalar(select(func.max(column))) or 0)
        value = max(highest, await _pending_max(session, ctx, entity), reserved.get(table, 0)) + 1
    reserved[table] = value
    return value


async def _pending_max(session: AsyncSession, ctx: ToolContext, entity: str) -> int:
    plans = await session.scalars(
        select(Proposal.changes).where(
            Proposal.workspace_id == ctx.principal.workspace_id, Proposal.status == "pending"
        )
    )
    keys = [
        int(change["key"])
        for plan in plans
        for part in plan
        for change in part.get("changes", [])
        if change.get("entity") == entity and change.get("field") == CREATE
    ]
    return max(keys, default=0)


async def asker(ctx: ToolContext) -> Member:
    member = await ctx.session.get(Member, ctx.principal.member_id)
    assert member is not None, "write tools run for members only"
    return member
