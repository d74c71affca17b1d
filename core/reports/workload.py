"""Who carries the AI Inbox's open assists, and who closed how many."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.reports.figures import change_text, inside
from core.reports.inbox import inbox_assists
from core.reports.report import Report, ReportInput
from core.reports.scope import Scope
from core.team.members import active_members
from storage.domain import Assist
from storage.statements import Statement

# What counts as an open assist in every workload figure: waiting on the team ("open") or on
# the customer ("pending"). A snoozed assist has left the open list until it wakes as "open".
OPEN_STATUSES = ("open", "pending")


def is_open(status: str) -> bool:
    return status in OPEN_STATUSES


_assists = Assist.__table__
# The statuses are written into the statement (an IN list would be expanded at each run).
_OPEN_ROWS = Statement(
    select(_assists.c.assignee_id, _assists.c.priority).where(
        _assists.c.workspace_id == bindparam("workspace_id"),
        or_(*(_assists.c.status == status for status in OPEN_STATUSES)),
    )
)


async def open_rows(session: AsyncSession, workspace_id: str) -> list[Any]:
    """Who holds each open assist and how urgent it is: plain rows (`assignee_id`,
    `priority`), not whole assists."""
    return await _OPEN_ROWS.rows(session, {"workspace_id": workspace_id})


async def open_assignments(ctx: Scope) -> list[Any]:
    return await open_rows(ctx.session, ctx.principal.workspace_id)


@dataclass(frozen=True)
class WorkloadRow:
    member: str
    role: str | None
    open: int
    high_or_urgent: int
    closed: int
    closed_previous: int


async def workload_report(r: ReportInput) -> Report:
    members = await active_members(r.ctx.session, r.ctx.principal.workspace_id)
    assists = await inbox_assists(r.ctx, r.previous.start)
    open_by = Counter(x.assignee_id for x in assists if is_open(x.status))
    pressing_by = Counter(
        x.assignee_id for x in assists if is_open(x.status) and x.priority in ("urgent", "high")
    )
    closed_now = Counter(
        x.assignee_id for x in assists if x.status == "closed" and inside(x.closed_at, r.current)
    )
    closed_before = Counter(
        x.assignee_id for x in assists if x.status == "closed" and inside(x.closed_at, r.previous)
    )
    out = [
        WorkloadRow(
            member=m.name,
            role=m.role,
            open=open_by.get(m.id, 0),
            high_or_urgent=pressing_by.get(m.id, 0),
            closed=closed_now.get(m.id, 0),
            closed_previous=closed_before.get(m.id, 0),
        )
        for m in members
    ]
    out.sort(key=lambda o: (-o.open, -o.closed, o.member))
    unassigned = open_by.get(None, 0)
    lines = [
        f"{o.member}: {o.open} open ({o.high_or_urgent} high or urgent), "
        f"{o.closed} closed, {change_text(o.closed, o.closed_previous)}"
        for o in out
    ]
    lines.append(f"Unassigned: {unassigned} open")
    handlers = [m for m in members if m.role in ("manager", "support")] or members
    if unassigned and handlers:
        lightest = min(handlers, key=lambda m: (open_by.get(m.id, 0), m.name))
        advice = (
            f"Assign the {unassigned} unassigned assist(s) to {lightest.name}, who has "
            f"{open_by.get(lightest.id, 0)} open."
        )
    elif out and out[0].open:
        advice = f"{out[0].member} carries the most ({out[0].open} open): rebalance a few."
    else:
        advice = "No open assists: the load is even."
    out.append(WorkloadRow("unassigned", None, unassigned, pressing_by.get(None, 0), 0, 0))
    return Report(lines=lines, rows=[asdict(o) for o in out], suggestion=advice)
