"""The Management view's figures: each member's load, resolution time, CSAT and availability,
and the health of the queue. The console page, the admin API and the read tools all read
them from here.

Definitions (one place):
- open assists: status open or pending (`workload.OPEN_STATUSES`; snoozed ones are not open);
- average resolution: mean of closed_at - created_at over the member's assists closed in the
  last `WINDOW` (the member being the assignee when it was closed);
- CSAT: mean of the customers' ratings (1-5) of the conversations behind those same assists;
- high load: open count at least `HIGH_LOAD_FACTOR` x the team's average and at least
  `HIGH_LOAD_MARGIN` more than it (the average over every active member);
- backlog_7d: at now - 6 days, …, now - 1 day, now (oldest first), the assists created by then
  and not closed by then (snoozed ones count: they are still owed an answer);
- arrivals by hour of the week: assists created in the last `WINDOW`, in 168 buckets
  (Monday 00:00-01:00 first) in the given time zone.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.reports.workload import OPEN_STATUSES, open_rows
from core.routing.effective import effective_availability
from core.team.members import active_members
from storage.domain import Assist, Conversation
from storage.models import Workspace

WINDOW = timedelta(days=30)
HIGH_LOAD_FACTOR = 1.5
HIGH_LOAD_MARGIN = 3
BACKLOG_DAYS = 7
HIGH_LOAD_RULE = (
    f"high load: open assists at least {HIGH_LOAD_FACTOR:g} times the team average "
    f"and at least {HIGH_LOAD_MARGIN} more than it"
)


@dataclass(frozen=True)
class MemberLoad:
    member_id: str
    name: str
    email: str | None
    role: str
    availability: str
    open_assists: int
    avg_resolution_seconds: float | None  # None: nothing closed in the window
    csat: float | None  # None: no rating in the window
    closed: int  # assists closed in the window (what the average counts)
    ratings: int  # ratings in the window (what CSAT counts)
    high_load: bool


@dataclass(frozen=True)
class QueueHealth:
    unassigned: int
    oldest_unassigned_age_seconds: float | None  # None: nothing waits unassigned
    backlog_7d: list[int]


@dataclass(frozen=True)
class Management:
    members: list[MemberLoad]
    queue: QueueHealth
    team_average_open: float


def high_load(open_count: int, average: float) -> bool:
    return open_count >= HIGH_LOAD_FACTOR * average and open_count >= average + HIGH_LOAD_MARGIN


async def queue_health(session: AsyncSession, workspace_id: str, now: datetime) -> QueueHealth:
    waiting = list(
        await session.scalars(
            select(Assist.created_at).where(
                Assist.workspace_id == workspace_id,
                Assist.status.in_(OPEN_STATUSES),
                Assist.assignee_id.is_(None),
            )
        )
    )
    oldest = (now - min(waiting)).total_seconds() if waiting else None
    first = now - timedelta(days=BACKLOG_DAYS - 1)
    spans = list(
        await session.execute(
            select(Assist.created_at, Assist.closed_at).where(
                Assist.workspace_id == workspace_id,
                Assist.created_at <= now,
                (Assist.closed_at.is_(None)) | (Assist.closed_at > first),
            )
        )
    )
    points = [first + timedelta(days=k) for k in range(BACKLOG_DAYS)]
    backlog = [
        sum(1 for made, closed in spans if made <= t and (closed is None or closed > t))
        for t in points
    ]
    return QueueHealth(len(waiting), oldest, backlog)


async def management_figures(session: AsyncSession, workspace_id: str, now: datetime) -> Management:
    members = await active_members(session, workspace_id)
    workspace = await session.get(Workspace, workspace_id)
    zone = workspace.timezone if workspace is not None else "UTC"
    open_by = Counter(row.assignee_id for row in await open_rows(session, workspace_id))
    closed_rows = await session.execute(
        select(Assist.assignee_id, Assist.created_at, Assist.closed_at, Conversation.csat)
        .outerjoin(Conversation, Conversation.id == Assist.conversation_id)
        .where(
            Assist.workspace_id == workspace_id,
            Assist.status == "closed",
            Assist.assignee_id.is_not(None),
            Assist.closed_at > now - WINDOW,
            Assist.closed_at <= now,
        )
    )
    spans: dict[str, list[float]] = defaultdict(list)
    ratings: dict[str, list[int]] = defaultdict(list)
    for assignee, made, closed, csat in closed_rows:
        if assignee is None or closed is None:  # excluded by the query; for the type checker
            continue
        spans[assignee].append((closed - made).total_seconds())
        if csat is not None:
            ratings[assignee].append(csat)
    average = sum(open_by.get(m.id, 0) for m in members) / len(members) if members else 0.0
    loads = [
        MemberLoad(
            member_id=m.id,
            name=m.name,
            email=m.email,
            role=m.role,
            availability=effective_availability(m, now, zone),
            open_assists=open_by.get(m.id, 0),
            avg_resolution_seconds=_mean(spans[m.id]),
            csat=_mean(ratings[m.id]),
            closed=len(spans[m.id]),
            ratings=len(ratings[m.id]),
            high_load=high_load(open_by.get(m.id, 0), average),
        )
        for m in members
    ]
    return Management(loads, await queue_health(session, workspace_id, now), average)


async def arrivals_by_hour(
    session: AsyncSession,
    workspace_id: str,
    now: datetime,
    tz: str | None,
    member_id: str | None = None,
) -> list[int]:
    """Assists created in the last WINDOW per hour of the week, Monday 00:00 first (168)."""
    zone = ZoneInfo(tz or "UTC")
    query = select(Assist.created_at).where(
        Assist.workspace_id == workspace_id,
        Assist.created_at > now - WINDOW,
        Assist.created_at <= now,
    )
    if member_id is not None:
        query = query.where(Assist.assignee_id == member_id)
    buckets = [0] * 168
    for made in await session.scalars(query):
        local = _aware(made).astimezone(zone)
        buckets[local.weekday() * 24 + local.hour] += 1
    return buckets


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo("UTC"))


def _mean(values: list[float] | list[int]) -> float | None:
    return sum(values) / len(values) if values else None
