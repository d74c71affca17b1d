"""Analytics over the AI agent's conversations: periods in the workspace's time zone, metrics,
trends against the previous period, and one next action to suggest."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.domain import Conversation

METRIC_LABELS = {
    "resolution_rate": "Resolution rate",
    "csat": "CSAT",
    "volume": "Conversations",
    "first_response_time": "First response time",
    "escalation_rate": "Escalation rate",
}
PERIOD_LABELS = {
    "today": "today",
    "yesterday": "yesterday",
    "this_week": "this week",
    "last_week": "last week",
    "this_month": "this month",
    "last_month": "last month",
    "last_7_days": "the last 7 days",
    "last_30_days": "the last 30 days",
}
# Higher is better for these; for the others (escalations, response time) lower is better.
HIGHER_IS_BETTER = {
    "resolution_rate": True,
    "csat": True,
    "volume": True,
    "first_response_time": False,
    "escalation_rate": False,
}


@dataclass(frozen=True)
class Window:
    start: datetime  # inclusive, UTC
    end: datetime  # exclusive, UTC
    label: str


def windows(period: str, now: datetime, tz: str) -> tuple[Window, Window]:
    """The period and the one before it, as UTC bounds, computed in the workspace time zone."""
    zone = ZoneInfo(tz)
    local = now.astimezone(zone)
    midnight = datetime.combine(local.date(), time(0), zone)

    def utc(dt: datetime) -> datetime:
        return dt.astimezone(UTC)

    if period == "today":
        cur = (midnight, local)
        prev = (midnight - timedelta(days=1), midnight)
    elif period == "yesterday":
        cur = (midnight - timedelta(days=1), midnight)
        prev = (midnight - timedelta(days=2), midnight - timedelta(days=1))
    elif period == "this_week":
        start = midnight - timedelta(days=local.weekday())
        cur = (start, local)
        prev = (start - timedelta(days=7), start)
    elif period == "last_week":
        start = midnight - timedelta(days=local.weekday() + 7)
        cur = (start, start + timedelta(days=7))
        prev = (start - timedelta(days=7), start)
    elif period == "this_month":
        start = midnight.replace(day=1)
        cur = (start, local)
        prev = (start - relativedelta(months=1), start)
    elif period == "last_month":
        end = midnight.replace(day=1)
        cur = (end - relativedelta(months=1), end)
        prev = (end - relativedelta(months=2), end - relativedelta(months=1))
    elif period in ("last_7_days", "last_30_days"):
        days = 7 if period == "last_7_days" else 30
        cur = (local - timedelta(days=days), local)
        prev = (local - timedelta(days=2 * days), local - timedelta(days=days))
    else:
        raise ValueError(f"unknown period {period!r}")
    label = PERIOD_LABELS[period]
    return (
        Window(utc(cur[0]), utc(cur[1]), label),
        Window(utc(prev[0]), utc(prev[1]), "the period before"),
    )


# The conversation rows the analytics read, as plain result rows (attribute access by column
# name, e.g. `row.topic`) rather than ORM objects: they are only read, and building ORM
# instances for every conversation of a period was most of a read request's cost. Only the
# columns the figures use are read (not the ids or `ended_at`, whose values each cost a
# conversion per row).
ConversationRow = Any
_conversations = Conversation.__table__
_CONVERSATION_COLUMNS = tuple(
    _conversations.c[name]
    for name in (
        "channel",
        "topic",
        "resolved_by_ai",
        "escalated",
        "csat",
        "first_response_seconds",
        "started_at",
    )
)


async def conversations(
    session: AsyncSession, workspace_id: str, window: Window
) -> list[ConversationRow]:
    """The workspace's conversations started inside WINDOW."""
    result = await session.execute(
        select(*_CONVERSATION_COLUMNS).where(
            _conversations.c.workspace_id == workspace_id,
            _conversations.c.started_at >= window.start,
            _conversations.c.started_at < window.end,
        )
    )
    return list(result)


async def conversations_pair(
    session: AsyncSession, workspace_id: str, current: Window, previous: Window
) -> tuple[list[ConversationRow], list[ConversationRow]]:
    """The conversations of CURRENT and of PREVIOUS; one query when the windows touch (as
    every pair from `windows` does), split by start time."""
    if previous.end != current.start:
        return (
            await conversations(session, workspace_id, current),
            await conversations(session, workspace_id, previous),
        )
    both = await conversations(session, workspace_id, Window(previous.start, current.end, ""))
    split = current.start
    return [r for r in both if r.started_at >= split], [r for r in both if r.started_at < split]


def compute(metric: str, rows: Sequence[ConversationRow]) -> float | None:
    """The metric over ROWS; None when there is nothing to measure."""
    if metric == "volume":
        return float(len(rows))
    if not rows:
        return None
    if metric == "resolution_rate":
        return 100.0 * sum(r.resolved_by_ai for r in rows) / len(rows)
    if metric == "escalation_rate":
        return 100.0 * sum(r.escalated for r in rows) / len(rows)
    if metric == "csat":
        scores = [r.csat for r in rows if r.csat is not None]
        return statistics.fmean(scores) if scores else None
    if metric == "first_response_time":
        times = [r.first_response_seconds for r in rows if r.first_response_seconds is not None]
        return statistics.median(times) if times else None
    raise ValueError(f"unknown metric {metric!r}")


def fmt(metric: str, value: float | None) -> str:
    if value is None:
        return "no data"
    if metric in ("resolution_rate", "escalation_rate"):
        return f"{value:.1f}%"
    if metric == "csat":
        return f"{value:.2f}/5"
    if metric == "first_response_time":
        return f"{value / 60:.1f} min" if value >= 90 else f"{value:.0f} s"
    return f"{value:.0f}"


def trend(metric: str, current: float | None, previous: float | None) -> str:
    if current is None or previous is None:
        return "no earlier data to compare"
    delta = current - previous
    if abs(delta) < 1e-9:
        return "unchanged from the period before"
    if metric in ("resolution_rate", "escalation_rate"):
        size = f"{abs(delta):.1f} points"
    elif metric == "csat":
        size = f"{abs(delta):.2f}"
    elif previous:
        size = f"{abs(delta) / previous * 100:.0f}%"
    else:
        size = fmt(metric, abs(delta))
    direction = "up" if delta > 0 else "down"
    better = (delta > 0) == HIGHER_IS_BETTER[metric]
    return f"{direction} {size} on the period before ({'better' if better else 'worse'})"


def top_topics(rows: Sequence[ConversationRow], n: int = 5) -> list[tuple[str, int]]:
    return Counter(r.topic or "other" for r in rows).most_common(n)


def suggestion(metric: str, rows: Sequence[ConversationRow]) -> str:
    """One specific next action, drawn from where the misses cluster."""
    if metric in ("resolution_rate", "escalation_rate", "csat"):
        misses = [r for r in rows if r.escalated or not r.resolved_by_ai or (r.csat or 5) <= 2]
        if misses:
            topic, count = top_topics(misses, 1)[0]
            return (
                f"Most misses are about {topic} ({count} conversations): add Q&A for {topic} "
                "to let the agent answer them."
            )
    if metric == "first_response_time":
        return "Check the slowest channel's business hours and away message."
    if metric == "volume" and rows:
        topic, count = top_topics(rows, 1)[0]
        return (
            f"{topic} drives the most conversations ({count}); make sure its answers are current."
        )
    return "Not enough conversations yet to suggest anything specific."


def sparkline(values: Sequence[float]) -> str:
    bars = "▁▂▃▄▅▆▇█"
    if not values:
        return ""
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    return "".join(bars[int((v - lo) / span * (len(bars) - 1))] for v in values)


def daily_series(
    metric: str, rows: Sequence[ConversationRow], window: Window, tz: str
) -> list[tuple[str, float | None]]:
    """The metric per local day across WINDOW, for charts."""
    zone = ZoneInfo(tz)
    by_day: dict[str, list[ConversationRow]] = {}
    for row in rows:
        by_day.setdefault(row.started_at.astimezone(zone).date().isoformat(), []).append(row)
    day = window.start.astimezone(zone).date()
    last = (window.end - timedelta(microseconds=1)).astimezone(zone).date()
    series = []
    while day <= last:
        key = day.isoformat()
        series.append((key, compute(metric, by_day.get(key, []))))
        day += timedelta(days=1)
    return series
