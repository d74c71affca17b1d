"""Analytics over the AI agent's conversations: periods in the workspace's time zone, metrics,
trends against the previous period, and one next action to suggest."""

from __future__ import annotations

import functools
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from sqlalchemy import (
    Integer,
    Select,
    bindparam,
    case,
    func,
    literal_column,
    not_,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from storage.domain import Conversation
from storage.statements import Statement

METRIC_LABELS = {
    "resolution_rate": "Resolution rate",
    "csat": "CSAT",
    "volume": "Conversations",
    "first_response_time": "First response time",
    "escalation_rate": "Escalation rate",
}
# The unit a metric's raw value is in, for the reports' tables.
METRIC_UNITS = {
    "resolution_rate": "%",
    "csat": "out of 5",
    "volume": "conversations",
    "first_response_time": "seconds",
    "escalation_rate": "%",
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

    # A period still running ("to date") is compared with the same stretch of the one before:
    # this month's first 6 days and 14 hours with last month's first 6 days and 14 hours (the
    # day clipped to that month's end), never with the whole of last month.
    if period == "today":
        cur = (midnight, local)
        prev = (midnight - timedelta(days=1), local - timedelta(days=1))
    elif period == "yesterday":
        cur = (midnight - timedelta(days=1), midnight)
        prev = (midnight - timedelta(days=2), midnight - timedelta(days=1))
    elif period == "this_week":
        start = midnight - timedelta(days=local.weekday())
        cur = (start, local)
        prev = (start - timedelta(days=7), local - timedelta(days=7))
    elif period == "last_week":
        start = midnight - timedelta(days=local.weekday() + 7)
        cur = (start, start + timedelta(days=7))
        prev = (start - timedelta(days=7), start)
    elif period == "this_month":
        start = midnight.replace(day=1)
        cur = (start, local)
        prev = (start - relativedelta(months=1), min(local - relativedelta(months=1), start))
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
    """The workspace's conversations started inside WINDOW, in start order (ties among
    topics go to the first seen, so the order is the answer's, not the query plan's)."""
    result = await session.execute(
        select(*_CONVERSATION_COLUMNS)
        .where(
            _conversations.c.workspace_id == workspace_id,
            _conversations.c.started_at >= window.start,
            _conversations.c.started_at < window.end,
        )
        .order_by(_conversations.c.started_at, _conversations.c.id)
    )
    return list(result)


async def conversations_pair(
    session: AsyncSession, workspace_id: str, current: Window, previous: Window
) -> tuple[list[ConversationRow], list[ConversationRow]]:
    """The conversations of CURRENT and of PREVIOUS; one query when the windows touch (as
    the pairs of finished periods from `windows` do), split by start time."""
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
    """The metric per local day across WINDOW, for charts: from the day it starts on to the
    day of its last instant; an empty window (today's at midnight) is the day it starts on."""
    zone = ZoneInfo(tz)
    by_day: dict[str, list[ConversationRow]] = {}
    for row in rows:
        by_day.setdefault(row.started_at.astimezone(zone).date().isoformat(), []).append(row)
    day = window.start.astimezone(zone).date()
    last = max(day, (window.end - timedelta(microseconds=1)).astimezone(zone).date())
    series = []
    while day <= last:
        key = day.isoformat()
        series.append((key, compute(metric, by_day.get(key, []))))
        day += timedelta(days=1)
    return series


# --------------------------------------------------------------------------- SQL aggregates
# The read tools' figures computed by the database: one grouped statement instead of every
# conversation of two periods as rows (a month and the one before are ~300 rows, most of a
# request's cost). They give exactly what the row functions above give from the same rows,
# ties included: Counter order is first appearance, and the rows come in start order.


def _topic_key() -> Any:
    """`row.topic or "other"`, in SQL."""
    return func.coalesce(
        func.nullif(_conversations.c.topic, literal_column("''")), literal_column("'other'")
    )


def _flag(condition: Any) -> Any:
    """1 where CONDITION holds, else 0, both written in the SQL (not bound: the metric
    statement sums two flags a day, four values fewer to bind for each)."""
    return case((condition, literal_column("1", Integer)), else_=literal_column("0", Integer))


_c = _conversations.c
_MISS = or_(_c.escalated, not_(_c.resolved_by_ai), func.coalesce(_c.csat, 5) <= 2)


@dataclass(frozen=True)
class TopicCount:
    topic: str
    count: int
    first: datetime  # when the first conversation of the group started


def _ranked(counts: dict[str, tuple[int, datetime]], n: int) -> list[tuple[str, int]]:
    """`Counter(...).most_common(n)` over rows in start order: by count, ties by first seen."""
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1][0], kv[1][1]))
    return [(topic, count) for topic, (count, _) in ranked[:n]]


@functools.cache
def _topics_statement() -> Statement:
    key = _topic_key().label("topic_key")
    current = (_c.started_at >= bindparam("split")).label("in_current")
    return Statement(
        select(key, current, func.count().label("n"), func.min(_c.started_at).label("first"))
        .where(
            _c.workspace_id == bindparam("workspace_id"),
            _c.started_at >= bindparam("start"),
            _c.started_at < bindparam("end"),
            or_(_c.started_at < bindparam("previous_end"), _c.started_at >= bindparam("split")),
        )
        # By the output names: the expressions hold bound parameters, which PostgreSQL
        # would not see as the same expression twice.
        .group_by(literal_column("topic_key"), literal_column("in_current"))
    )


async def topic_counts_pair(
    session: AsyncSession, workspace_id: str, current: Window, previous: Window
) -> tuple[dict[str, tuple[int, datetime]], dict[str, tuple[int, datetime]]] | None:
    """Conversations per topic (`topic or "other"`) in CURRENT and in PREVIOUS, each as
    topic -> (count, first start); None when PREVIOUS does not end before CURRENT starts
    (use the rows)."""
    if previous.end > current.start:
        return None
    result = await _topics_statement().rows(
        session,
        {
            "workspace_id": workspace_id,
            "split": current.start,
            "previous_end": previous.end,
            "start": previous.start,
            "end": current.end,
        },
    )
    now: dict[str, tuple[int, datetime]] = {}
    before: dict[str, tuple[int, datetime]] = {}
    for row in result:
        (now if row.in_current else before)[row.topic_key] = (row.n, row.first)
    return now, before


def ranked_topics(counts: dict[str, tuple[int, datetime]], n: int) -> list[tuple[str, int]]:
    return _ranked(counts, n)


def day_bounds(window: Window, tz: str) -> tuple[datetime, ...] | None:
    """The UTC instants where WINDOW's local days (as `daily_series` counts them) begin,
    after the first; None where a clock change repeats local times around midnight, so that
    a later instant can fall on an earlier local day (then only the rows tell)."""
    zone = ZoneInfo(tz)
    first = window.start.astimezone(zone).date()
    last = (window.end - timedelta(microseconds=1)).astimezone(zone).date()
    return _day_bounds(first, last, tz)


@functools.lru_cache(maxsize=4096)
def _day_bounds(first: date, last: date, tz: str) -> tuple[datetime, ...] | None:
    """Local midnights after FIRST up to LAST in TZ, in UTC (a function of its arguments
    alone: kept, as every request over the same days and zone asks again)."""
    zone = ZoneInfo(tz)
    day = first
    bounds = []
    while day < last:
        day += timedelta(days=1)
        midnight = datetime.combine(day, time(0), zone)
        before = datetime.combine(day - timedelta(days=1), time.max, zone)
        if midnight.replace(fold=1).astimezone(UTC) != midnight.astimezone(UTC) or before.replace(
            fold=1
        ).astimezone(UTC) != before.astimezone(UTC):
            return None
        bounds.append(midnight.astimezone(UTC))
    return tuple(bounds)


# `day_index` of the per-topic rows of the metric statement.
_TOPICS = -2
# The most days the metric statement counts one by one, each a SELECT of its UNION ALL:
# SQLite refuses a compound of more than 500 (SQLITE_MAX_COMPOUND_SELECT). The periods
# `windows` gives have at most 32 local days; a longer window is left to the rows.
_MOST_DAYS = 366


@functools.cache
def _metric_statement(days: int, by_channel: bool) -> Statement:
    """The counts every metric but the median response time is computed from, in two sets
    of rows: per topic over the current window (`day_index` -2: conversations and misses,
    and when each topic's first conversation and first miss started), then one row for the
    previous window (-1) and one for each local day of the current window (0, 1, ...), each
    also where nothing started (its count 0, its sums NULL). Day boundaries are bound as
    `b0`, `b1`, ...; DAYS is how many days the window has."""
    channel = [_c.channel == bindparam("channel")] if by_channel else []
    where = [
        _c.workspace_id == bindparam("workspace_id"),
        _c.started_at >= bindparam("start"),
        _c.started_at < bindparam("end"),
        # Between the previous window's end and the current one's start (the rest of the
        # period before a period still running) nothing is counted.
        or_(_c.started_at < bindparam("previous_end"), _c.started_at >= bindparam("split")),
        *channel,
    ]
    zero = literal_column("0", Integer)
    topics = (
        select(
            literal_column(str(_TOPICS), Integer).label("day_index"),
            _topic_key().label("topic_key"),
            func.count().label("n"),
            zero.label("resolved"),
            zero.label("escalated"),
            zero.label("csat_sum"),
            zero.label("csat_n"),
            func.sum(_flag(_MISS)).label("misses"),
            func.min(_c.started_at).label("first"),
            func.min(case((_MISS, _c.started_at))).label("first_miss"),
        )
        .where(*where, _c.started_at >= bindparam("split"))
        .group_by(literal_column("topic_key"))
    )

    def tally(day_index: int, start: str, end: str) -> Select[*tuple[Any, ...]]:
        """One row counting what started in [START, END), read as one range of the start
        time index and grouped by nothing: with each row's day chosen by a CASE and grouped
        on, SQLite took 480 µs for the statement of a month of the demo data, 326 so."""
        return select(
            literal_column(str(day_index), Integer).label("day_index"),
            null().label("topic_key"),
            func.count().label("n"),
            func.sum(_flag(_c.resolved_by_ai)).label("resolved"),
            func.sum(_flag(_c.escalated)).label("escalated"),
            func.sum(_c.csat).label("csat_sum"),
            func.count(_c.csat).label("csat_n"),
            zero.label("misses"),
            null().label("first"),
            null().label("first_miss"),
        ).where(
            _c.workspace_id == bindparam("workspace_id"),
            _c.started_at >= bindparam(start),
            _c.started_at < bindparam(end),
            *channel,
        )

    # The previous window is [start, previous_end); day i of the current one [b{i-1}, b{i}),
    # the first starting at the window's start (split), the last ending at its end.
    edges = ["split", *(f"b{i}" for i in range(days - 1)), "end"]
    per_day = [tally(i, edges[i], edges[i + 1]) for i in range(days)]
    return Statement(union_all(topics, tally(-1, "start", "previous_end"), *per_day))


@dataclass
class _Tally:
    n: int = 0
    resolved: int = 0
    escalated: int = 0
    csat_sum: int = 0
    csat_n: int = 0

    def add(self, row: Any) -> None:
        # A range where nothing started counts 0 (and 0 scores) and sums to NULL.
        self.n += row.n
        self.resolved += row.resolved or 0
        self.escalated += row.escalated or 0
        self.csat_sum += row.csat_sum or 0
        self.csat_n += row.csat_n

    def value(self, metric: str) -> float | None:
        """What `compute` gives for the same rows."""
        if metric == "volume":
            return float(self.n)
        if not self.n:
            return None
        if metric == "resolution_rate":
            return 100.0 * self.resolved / self.n
        if metric == "escalation_rate":
            return 100.0 * self.escalated / self.n
        if metric == "csat":
            return self.csat_sum / self.csat_n if self.csat_n else None
        raise ValueError(f"unknown metric {metric!r}")


@dataclass(frozen=True)
class MetricSummary:
    count: int
    value: float | None
    previous: float | None
    series: list[tuple[str, float | None]]
    suggestion: str


async def metric_summary(
    session: AsyncSession,
    workspace_id: str,
    metric: str,
    current: Window,
    previous: Window,
    tz: str,
    channel: str | None = None,
) -> MetricSummary | None:
    """METRIC over CURRENT and PREVIOUS (optionally one channel's conversations), its daily
    series and suggestion, as `compute`, `daily_series` and `suggestion` give them from the
    rows; None where only the rows can tell (the median response time, a previous window
    that does not end before the current one starts, a clock change around midnight, more
    than a year of days)."""
    if metric == "first_response_time" or previous.end > current.start:
        return None
    bounds = day_bounds(current, tz)
    if bounds is None or len(bounds) >= _MOST_DAYS:
        return None
    params: dict[str, Any] = {
        "workspace_id": workspace_id,
        "split": current.start,
        "previous_end": previous.end,
        "start": previous.start,
        "end": current.end,
        **{f"b{i}": bound for i, bound in enumerate(bounds)},
    }
    if channel is not None:
        params["channel"] = channel
    result = await _metric_statement(len(bounds) + 1, channel is not None).rows(session, params)
    days = [_Tally() for _ in range(len(bounds) + 1)]
    now, before = _Tally(), _Tally()
    topics: dict[str, tuple[int, datetime]] = {}
    misses: dict[str, tuple[int, datetime]] = {}
    for row in result:
        if row.day_index == _TOPICS:
            topics[row.topic_key] = (row.n, row.first)
            if row.misses:
                misses[row.topic_key] = (row.misses, row.first_miss)
        elif row.day_index < 0:
            before.add(row)
        else:
            now.add(row)
            days[row.day_index].add(row)
    zone = ZoneInfo(tz)
    day = current.start.astimezone(zone).date()
    series = []
    for tally in days:
        series.append((day.isoformat(), tally.value(metric)))
        day += timedelta(days=1)
    return MetricSummary(
        count=now.n,
        value=now.value(metric),
        previous=before.value(metric),
        series=series,
        suggestion=_suggestion(metric, now.n, topics, misses),
    )


def _suggestion(
    metric: str,
    count: int,
    topics: dict[str, tuple[int, datetime]],
    misses: dict[str, tuple[int, datetime]],
) -> str:
    """`suggestion` from the per-topic counts."""
    if metric in ("resolution_rate", "escalation_rate", "csat") and misses:
        topic, n = _ranked(misses, 1)[0]
        return (
            f"Most misses are about {topic} ({n} conversations): add Q&A for {topic} "
            "to let the agent answer them."
        )
    if metric == "volume" and count:
        topic, n = _ranked(topics, 1)[0]
        return f"{topic} drives the most conversations ({n}); make sure its answers are current."
    return "Not enough conversations yet to suggest anything specific."
