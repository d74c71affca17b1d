"""The AI Inbox in figures: opened, answered and closed assists, and the queue now."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select

from core.reports import analytics
from core.reports.figures import (
    PRIORITY_ORDER,
    age_text,
    change_text,
    duration,
    inside,
    median,
    member_names,
)
from core.reports.report import Report, ReportInput
from core.reports.scope import Scope
from models.deliverable import CardField
from storage.domain import Assist


@dataclass(frozen=True)
class InboxFigures:
    """The AI Inbox over one window. Times are medians in seconds, None when nothing counts."""

    opened: int
    closed: int
    first_response: float | None  # over assists first answered in the window
    time_to_close: float | None  # over assists closed in the window

    def as_row(self) -> dict[str, Any]:
        return {
            "opened": self.opened,
            "closed": self.closed,
            "median_first_response_seconds": self.first_response,
            "median_time_to_close_seconds": self.time_to_close,
        }


def inbox_figures(assists: Sequence[Assist], window: analytics.Window) -> InboxFigures:
    """Each event counts in the window it happened in: opening, first response, closing."""
    responded = [
        (x.first_response_at - x.created_at).total_seconds()
        for x in assists
        if x.first_response_at is not None and inside(x.first_response_at, window)
    ]
    closed = [
        (x.closed_at - x.created_at).total_seconds()
        for x in assists
        if x.status == "closed" and x.closed_at is not None and inside(x.closed_at, window)
    ]
    return InboxFigures(
        opened=sum(inside(x.created_at, window) for x in assists),
        closed=len(closed),
        first_response=median(responded),
        time_to_close=median(closed),
    )


async def inbox_assists(ctx: Scope, since: datetime, member_id: str | None = None) -> list[Assist]:
    """Assists open now or with anything happening since SINCE (optionally one member's)."""
    query = select(Assist).where(
        Assist.workspace_id == ctx.principal.workspace_id,
        or_(
            Assist.status != "closed",
            Assist.created_at >= since,
            Assist.first_response_at >= since,
            Assist.closed_at >= since,
        ),
    )
    if member_id is not None:
        query = query.where(Assist.assignee_id == member_id)
    return list(await ctx.session.scalars(query))


async def open_assists(ctx: Scope) -> list[Assist]:
    rows = await ctx.session.scalars(
        select(Assist).where(
            Assist.workspace_id == ctx.principal.workspace_id, Assist.status != "closed"
        )
    )
    return list(rows)


async def assists_opened(ctx: Scope, window: analytics.Window) -> list[Assist]:
    rows = await ctx.session.scalars(
        select(Assist).where(
            Assist.workspace_id == ctx.principal.workspace_id,
            Assist.created_at >= window.start,
            Assist.created_at < window.end,
        )
    )
    return list(rows)


def inbox_advice(open_now: Sequence[Assist], now: datetime, *, team: bool) -> str:
    """One next step for the queue: unassigned work first, then the most pressing open assist."""
    if not open_now:
        return "The queue is empty: promote a recently closed assist to training while it's fresh."
    unassigned = [x for x in open_now if x.assignee_id is None]
    if team and unassigned:
        oldest = min(unassigned, key=lambda x: x.created_at)
        return (
            f"Assign the {len(unassigned)} unassigned open assist(s), starting with {oldest.ref} "
            f"({oldest.priority}, waiting {age_text(now - oldest.created_at)})."
        )
    pressing = [x for x in open_now if x.priority in ("urgent", "high")] or list(open_now)
    oldest = min(pressing, key=lambda x: (PRIORITY_ORDER.get(x.priority, 9), x.created_at))
    return (
        f"Follow up on {oldest.ref} ({oldest.priority}, open {age_text(now - oldest.created_at)}): "
        f"{oldest.subject or oldest.summary[:60]}."
    )


def inbox_lines(
    current: InboxFigures, previous: InboxFigures, open_now: Sequence[Assist]
) -> list[tuple[str, str]]:
    pending = sum(x.status == "pending" for x in open_now)
    first, close = current.first_response, current.time_to_close
    return [
        ("Opened", f"{current.opened}, {change_text(current.opened, previous.opened)}"),
        (
            "Closed",
            f"{current.closed}, {change_text(current.closed, previous.closed, better='higher')}",
        ),
        ("Open now", f"{len(open_now)} ({pending} pending)"),
        (
            "Median first response",
            f"{duration(first)}, "
            + change_text(first, previous.first_response, relative=True, better="lower"),
        ),
        (
            "Median time to close",
            f"{duration(close)}, "
            + change_text(close, previous.time_to_close, relative=True, better="lower"),
        ),
    ]


# Each figure of the inbox report's table: its label and the unit of its value.
INBOX_FIGURES = {
    "opened": ("Opened", "assists"),
    "closed": ("Closed", "assists"),
    "median_first_response_seconds": ("Median first response", "seconds"),
    "median_time_to_close_seconds": ("Median time to close", "seconds"),
    "open_now": ("Open now", "assists"),
}


async def inbox_report(r: ReportInput) -> Report:
    assists = await inbox_assists(r.ctx, r.previous.start)
    current, previous = inbox_figures(assists, r.current), inbox_figures(assists, r.previous)
    open_now = [x for x in assists if x.status != "closed"]
    lines = inbox_lines(current, previous, open_now)
    now_row, before_row = current.as_row(), previous.as_row()
    rows = [
        {
            "metric": key,
            "label": INBOX_FIGURES[key][0],
            "value": now_row[key],
            "previous": before_row[key],
            "unit": INBOX_FIGURES[key][1],
        }
        for key in now_row
    ]
    rows.append(
        {
            "metric": "open_now",
            "label": INBOX_FIGURES["open_now"][0],
            "value": len(open_now),
            "previous": None,
            "unit": INBOX_FIGURES["open_now"][1],
        }
    )
    return Report(
        lines=[f"{label}: {value}" for label, value in lines],
        rows=rows,
        suggestion=inbox_advice(open_now, r.ctx.now, team=True),
        fields=tuple(CardField(label=label, value=value) for label, value in lines),
    )


async def assists_report(r: ReportInput) -> Report:
    opened = sorted(await assists_opened(r.ctx, r.current), key=lambda x: x.number)
    earlier = await assists_opened(r.ctx, r.previous)
    names = await member_names(r.ctx)
    tz = r.ctx.principal.timezone
    by_status = Counter(x.status for x in opened)
    by_priority = Counter(x.priority for x in opened)
    lines = [
        f"Opened: {len(opened)}, {change_text(len(opened), len(earlier))}",
        "By status: " + ", ".join(f"{k} {by_status[k]}" for k in ("open", "pending", "closed")),
        "By priority: "
        + ", ".join(f"{k} {by_priority[k]}" for k in ("urgent", "high", "normal", "low")),
    ]
    rows = [
        {
            "ref": x.ref,
            "subject": x.subject,
            "status": x.status,
            "priority": x.priority,
            "category": x.category,
            "assignee": names.get(x.assignee_id or "", "unassigned"),
            "created": x.created_at.astimezone(ZoneInfo(tz)).isoformat(),
            "closed": x.closed_at.astimezone(ZoneInfo(tz)).isoformat() if x.closed_at else None,
        }
        for x in opened
    ]
    open_now = await open_assists(r.ctx)
    return Report(lines=lines, rows=rows, suggestion=inbox_advice(open_now, r.ctx.now, team=True))


@dataclass(frozen=True)
class InboxPerformance:
    """The AI Inbox over a period against the one before, and the next step for its queue."""

    current: InboxFigures
    previous: InboxFigures
    open_now: list[Assist]
    lines: list[tuple[str, str]]
    advice: str


async def inbox_performance(
    ctx: Scope, current: analytics.Window, previous: analytics.Window, member_id: str | None
) -> InboxPerformance:
    """The team's inbox, or one member's (MEMBER_ID) when given, over CURRENT and PREVIOUS."""
    assists = await inbox_assists(ctx, previous.start, member_id)
    now_figures, before = inbox_figures(assists, current), inbox_figures(assists, previous)
    open_now = [x for x in assists if x.status != "closed"]
    lines = inbox_lines(now_figures, before, open_now)
    advice = inbox_advice(open_now, ctx.now, team=member_id is None)
    return InboxPerformance(now_figures, before, open_now, lines, advice)
