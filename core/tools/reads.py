"""Read tools: answered at once from the workspace's data."""

from __future__ import annotations

import asyncio
import statistics
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlalchemy import func, or_, select

from core.assists.history import customer_assists, resolution_of
from core.reports import analytics
from core.team.members import MemberNotFound, active_member_names, active_members, find_by_name
from core.team.plans import retention
from core.tools import args as a
from core.tools.registry import ToolContext, error_reply
from delivery import charts
from delivery.media import MediaStore
from delivery.reports import CONTENT_TYPES, ReportContent, ReportFormat
from delivery.reports import render as render_report
from models.deliverable import CardField, Deliverable
from storage.domain import (
    AiAgent,
    Assist,
    Integration,
    KnowledgeGap,
    QaPair,
    Schedule,
    Snapshot,
    TrainingSuggestion,
)
from storage.models import Member

PRIORITY_ORDER = {"urgent": 0, "high": 1, "normal": 2, "low": 3}


async def get_metrics(ctx: ToolContext, args: BaseModel) -> list[Deliverable]:
    assert isinstance(args, a.GetMetricsArgs)
    period = args.period or "this_week"
    tz = ctx.principal.timezone
    current, previous = analytics.windows(period, ctx.now, tz)
    ws = ctx.principal.workspace_id
    # Counted by the database where it can; the rows only for what needs them (a median).
    summary = await analytics.metric_summary(
        ctx.session, ws, args.metric, current, previous, tz, args.channel or None
    )
    if summary is not None:
        count, value, prior = summary.count, summary.value, summary.previous
        series, advice = summary.series, summary.suggestion
    else:
        rows, before = await analytics.conversations_pair(ctx.session, ws, current, previous)
        if args.channel:
            rows = [r for r in rows if r.channel == args.channel]
            before = [r for r in before if r.channel == args.channel]
        count = len(rows)
        value = analytics.compute(args.metric, rows)
        prior = analytics.compute(args.metric, before)
        series = analytics.daily_series(args.metric, rows, current, tz)
        advice = analytics.suggestion(args.metric, rows)
    label = analytics.METRIC_LABELS[args.metric]
    points = [v for _, v in series if v is not None]
    trend = analytics.trend(args.metric, value, prior)
    where = f" on {args.channel}" if args.channel else ""
    text = (
        f"{label} {current.label}{where}: {analytics.fmt(args.metric, value)}, {trend}.\n"
        + (f"Daily: {analytics.sparkline(points)}\n" if len(points) > 1 else "")
        + f"Next step: {advice}"
    )
    return [
        Deliverable(
            kind="card",
            title=f"{label}, {current.label}",
            text=text,
            fields=(
                CardField(label=label, value=analytics.fmt(args.metric, value)),
                CardField(label="Before", value=analytics.fmt(args.metric, prior)),
                CardField(label="Trend", value=trend),
                CardField(label="Conversations", value=str(count)),
            ),
            data={
                "metric": args.metric,
                "period": period,
                "value": value,
                "previous": prior,
                "series": series,
                "suggestion": advice,
                "chart": {"type": "line", "metric": args.metric},
            },
        )
    ]


async def get_topic_breakdown(ctx: ToolContext, args: BaseModel) -> list[Deliverable]:
    assert isinstance(args, a.GetTopicBreakdownArgs)
    period = args.period or "this_month"
    current, previous = analytics.windows(period, ctx.now, ctx.principal.timezone)
    ws = ctx.principal.workspace_id
    counted = await analytics.topic_counts_pair(ctx.session, ws, current, previous)
    if counted is not None:
        now, earlier = counted
        total = sum(n for n, _ in now.values())
        before = Counter({topic: n for topic, (n, _) in earlier.items()})
        top = analytics.ranked_topics(now, args.limit or 5)
    else:
        rows, rows_before = await analytics.conversations_pair(ctx.session, ws, current, previous)
        total = len(rows)
        before = Counter(r.topic or "other" for r in rows_before)
        top = analytics.top_topics(rows, args.limit or 5)
    if not total:
        return [Deliverable(text=f"No conversations {current.label}.")]
    items = []
    for topic, count in top:
        share = 100 * count / total
        change = count - before.get(topic, 0)
        items.append(f"{topic}: {count} ({share:.0f}%, {change:+d} vs the period before)")
    lead = top[0][0]
    text = (
        f"Top topics {current.label} ({total} conversations):\n"
        + "\n".join(f"- {i}" for i in items)
        + f"\nNext step: review the answers for {lead}, the biggest driver."
    )
    return [
        Deliverable(
            kind="list",
            title=f"Topics, {current.label}",
            text=text,
            items=tuple(items),
            data={"topics": top, "total": total, "chart": {"type": "bar"}},
        )
    ]


async def get_knowledge_gaps(ctx: ToolContext, args: BaseModel) -> list[Deliverable]:
    assert isinstance(args, a.GetKnowledgeGapsArgs)
    # Only what the reply shows: plain rows, not whole gaps.
    query = select(KnowledgeGap.question, KnowledgeGap.occurrences).where(
        KnowledgeGap.workspace_id == ctx.principal.workspace_id, KnowledgeGap.resolved.is_(False)
    )
    if args.period:
        current, _ = analytics.windows(args.period, ctx.now, ctx.principal.timezone)
        query = query.where(KnowledgeGap.last_seen >= current.start)
    gaps = list(
        await ctx.session.execute(
            query.order_by(KnowledgeGap.occurrences.desc()).limit(args.limit or 10)
        )
    )
    if not gaps:
        return [Deliverable(text="No open knowledge gaps: the agent answered everything asked.")]
    items = tuple(f"{g.question} (asked {g.occurrences} times)" for g in gaps)
    text = (
        "Questions the agent could not answer:\n"
        + "\n".join(f"- {i}" for i in items)
        + f'\nNext step: add a Q&A pair for "{gaps[0].question}" ({gaps[0].occurrences} asks).'
    )
    return [Deliverable(kind="list", title="Knowledge gaps", text=text, items=items)]


async def _open_assists(ctx: ToolContext) -> list[Assist]:
    rows = await ctx.session.scalars(
        select(Assist).where(
            Assist.workspace_id == ctx.principal.workspace_id, Assist.status != "closed"
        )
    )
    return list(rows)


async def get_agent_workload(ctx: ToolContext, args: BaseModel) -> list[Deliverable]:
    assert isinstance(args, a.GetAgentWorkloadArgs)
    names = await active_member_names(ctx.session, ctx.principal.workspace_id)
    # Only who holds each open assist and how urgent it is: plain rows, not whole assists.
    assists = list(
        await ctx.session.execute(
            select(Assist.assignee_id, Assist.priority).where(
                Assist.workspace_id == ctx.principal.workspace_id, Assist.status != "closed"
            )
        )
    )
    counts = Counter(x.assignee_id for x in assists)
    if args.member:
        try:
            member = await find_by_name(ctx.session, ctx.principal, args.member)
        except MemberNotFound as exc:
            return error_reply(str(exc))
        mine = [x for x in assists if x.assignee_id == member.id]
        urgent = sum(x.priority in ("urgent", "high") for x in mine)
        text = f"{member.name} has {len(mine)} open assists ({urgent} high or urgent)."
        return [Deliverable(kind="card", title=f"Workload: {member.name}", text=text)]
    ranking = sorted(
        ((names[mid], n) for mid, n in counts.items() if mid in names),
        key=lambda pair: (-pair[1], pair[0]),
    )
    unassigned = counts.get(None, 0)
    items = tuple(f"{name}: {n} open" for name, n in ranking)
    text = "Open assists by assignee:\n" + "\n".join(f"- {i}" for i in items)
    text += f"\nUnassigned: {unassigned}."
    if ranking and unassigned:
        lightest = min(names, key=lambda member_id: counts.get(member_id, 0))
        text += f"\nNext step: assign the unassigned ones to {names[lightest]}, who has the fewest."
    return [Deliverable(kind="list", title="Workload", text=text, items=items)]


def assist_line(x: Any, names: dict[str, str]) -> str:
    """One line for an assist (an Assist, or a row of `_ASSIST_LINE_COLUMNS`)."""
    who = names.get(x.assignee_id or "", "unassigned")
    subject = x.subject or x.summary[:60]
    return f"A-{x.number} [{x.priority}] {x.status} — {subject} ({who})"


# What a list of assists shows and filters on: plain rows, not whole assists (whose
# transcripts and details would each be parsed from JSON).
_ASSIST_LINE_COLUMNS = (
    Assist.number,
    Assist.status,
    Assist.priority,
    Assist.subject,
    Assist.summary,
    Assist.assignee_id,
    Assist.created_at,
    Assist.labels,
)


async def list_assists(ctx: ToolContext, args: BaseModel) -> list[Deliverable]:
    assert isinstance(args, a.ListAssistsArgs)
    query = select(*_ASSIST_LINE_COLUMNS).where(Assist.workspace_id == ctx.principal.workspace_id)
    if args.status:
        query = query.where(Assist.status == args.status)
    if args.priority:
        query = query.where(Assist.priority == args.priority)
    if args.category:
        query = query.where(func.lower(Assist.category) == args.category.lower())
    if args.older_than_days is not None:
        query = query.where(Assist.created_at < ctx.now - timedelta(days=args.older_than_days))
    if args.unassigned:
        query = query.where(Assist.assignee_id.is_(None))
    if args.assignee:
        try:
            member = await find_by_name(ctx.session, ctx.principal, args.assignee)
        except MemberNotFound as exc:
            return error_reply(str(exc))
        query = query.where(Assist.assignee_id == member.id)
    rows = list(await ctx.session.execute(query))
    if args.label:
        rows = [x for x in rows if args.label.lower() in [str(v).lower() for v in x.labels]]
    rows.sort(key=lambda x: (PRIORITY_ORDER.get(x.priority, 9), x.created_at))
    names = await active_member_names(ctx.session, ctx.principal.workspace_id)
    shown = rows[: args.limit or 20]
    if not shown:
        return [Deliverable(text="No assists match.")]
    items = tuple(assist_line(x, names) for x in shown)
    more = f"\n… and {len(rows) - len(shown)} more." if len(rows) > len(shown) else ""
    text = f"{len(rows)} assist(s):\n" + "\n".join(f"- {i}" for i in items) + more
    return [Deliverable(kind="list", title="Assists", text=text, items=items)]


async def load_assist(ctx: ToolContext, ref: str) -> Assist | None:
    number = int(ref.split("-", 1)[1])
    return await ctx.session.scalar(
        select(Assist).where(
            Assist.workspace_id == ctx.principal.workspace_id, Assist.number == number
        )
    )


async def show_assist(ctx: ToolContext, args: BaseModel) -> list[Deliverable]:
    assert isinstance(args, a.ShowAssistArgs)
    x = await load_assist(ctx, args.assist)
    if x is None:
        return error_reply(f"There is no assist {args.assist}.")
    assignee = await ctx.session.get(Member, x.assignee_id) if x.assignee_id else None
    fields = (
        CardField(label="Status", value=x.status),
        CardField(label="Priority", value=x.priority),
        CardField(label="Category", value=x.category or "—"),
        CardField(label="Assignee", value=assignee.name if assignee else "unassigned"),
    )
    details = ", ".join(f"{k}: {v}" for k, v in x.customer_details.items())
    text = (
        f"{x.ref}: {x.subject or ''}\n"
        + "\n".join(f"{f.label}: {f.value}" for f in fields)
        + f"\nSummary: {x.summary}"
        + (f"\nCustomer: {details}" if details else "")
        + (f"\nEscalated because: {x.escalation_reason}" if x.escalation_reason else "")
        + (f"\nSuggested reply: {x.suggested_reply}" if x.suggested_reply else "")
    )
    if x.status == "closed":
        resolution = await resolution_of(ctx.session, x)
        if resolution:
            text += f"\nResolution: {resolution}"
    earlier = await customer_assists(ctx.session, x)
    if earlier:
        lines = []
        for other in earlier:
            opened = f"{other.created_at:%Y-%m-%d}"
            line = f"- {other.ref} ({other.status}, {opened}): {other.subject or ''}"
            resolution = (
                await resolution_of(ctx.session, other) if other.status == "closed" else None
            )
            if resolution:
                line += f" — resolved: {resolution[:160]}"
            lines.append(line)
        text += "\nPrevious assists of this customer:\n" + "\n".join(lines)
    return [Deliverable(kind="card", title=x.ref, text=text, fields=fields)]


async def list_team(ctx: ToolContext, args: BaseModel) -> list[Deliverable]:
    assert isinstance(args, a.ListTeamArgs)
    members = await active_members(ctx.session, ctx.principal.workspace_id)
    if args.role:
        members = [m for m in members if m.role == args.role]
    items = tuple(f"{m.name} ({m.role})" + (f" <{m.email}>" if m.email else "") for m in members)
    text = f"{len(members)} member(s):\n" + "\n".join(f"- {i}" for i in items)
    return [Deliverable(kind="list", title="Team", text=text, items=items)]


async def get_agent_config(ctx: ToolContext, args: BaseModel) -> list[Deliverable]:
    assert isinstance(args, a.GetAgentConfigArgs)
    agent = await ctx.session.scalar(
        select(AiAgent).where(AiAgent.workspace_id == ctx.principal.workspace_id).limit(1)
    )
    if agent is None:
        return [Deliverable(text="This workspace has no AI agent set up yet.")]
    if args.field:
        value = agent.config.get(args.field) if args.field != "name" else agent.name
        return [
            Deliverable(
                text=f"{agent.name}'s {args.field.replace('_', ' ')}: {value or '(not set)'}"
            )
        ]
    items = tuple(f"{k.replace('_', ' ')}: {v}" for k, v in sorted(agent.config.items()))
    text = f"{agent.name}:\n" + "\n".join(f"- {i}" for i in items)
    return [Deliverable(kind="list", title=agent.name, text=text, items=items)]


# --- shared figures ---------------------------------------------------------------------------

# What one conversation the AI resolves saves, in minutes of a person's time (ROI report).
MINUTES_SAVED_PER_CONVERSATION = 6
# What a human-handled conversation costs, in USD, unless the workspace's agent config sets
# `human_cost_per_conversation`.
DEFAULT_HUMAN_COST_PER_CONVERSATION = 5.0
BRIEFING_LABELS = {
    "daily_inbox_summary": "daily inbox summary",
    "weekly_performance_digest": "weekly performance digest",
    "weekly_knowledge_gaps": "weekly knowledge gaps",
    "monthly_roi": "monthly ROI report",
}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _duration(seconds: float | None) -> str:
    """A span a person reads at a glance: 45 s, 32 min, 14.5 h, 2.1 days."""
    if seconds is None:
        return "no data"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def age_text(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.0f} days"


def _count(value: float) -> str:
    return f"{value:.0f}"


def change_text(
    current: float | None,
    previous: float | None,
    *,
    show: Callable[[float], str] = _count,
    relative: bool = False,
    better: Literal["higher", "lower"] | None = None,
) -> str:
    """CURRENT against PREVIOUS in words; BETTER is "higher", "lower" or None (neutral)."""
    if current is None or previous is None:
        return "no earlier data to compare"
    delta = current - previous
    if abs(delta) < 1e-9:
        return "unchanged from the period before"
    size = f"{abs(delta) / previous * 100:.0f}%" if relative and previous else show(abs(delta))
    text = f"{'up' if delta > 0 else 'down'} {size} on the period before"
    if better is not None:
        good = (delta > 0) == (better == "higher")
        text += f" ({'better' if good else 'worse'})"
    return text


def _local(when: datetime, tz: str) -> str:
    return when.astimezone(ZoneInfo(tz)).strftime("%a %d %b %H:%M %Z")


def _inside(when: datetime | None, window: analytics.Window) -> bool:
    return when is not None and window.start <= when < window.end


async def member_names(ctx: ToolContext) -> dict[str, str]:
    """Every member's name, former members included: history and reports name them too."""
    rows = await ctx.session.execute(
        select(Member.id, Member.name).where(Member.workspace_id == ctx.principal.workspace_id)
    )
    return {member_id: name for member_id, name in rows}


# --- AI Inbox performance -----------------------------------------------------------------------


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
        if x.first_response_at is not None and _inside(x.first_response_at, window)
    ]
    closed = [
        (x.closed_at - x.created_at).total_seconds()
        for x in assists
        if x.status == "closed" and x.closed_at is not None and _inside(x.closed_at, window)
    ]
    return InboxFigures(
        opened=sum(_inside(x.created_at, window) for x in assists),
        closed=len(closed),
        first_response=_median(responded),
        time_to_close=_median(closed),
    )


async def inbox_assists(
    ctx: ToolContext, since: datetime, member_id: str | None = None
) -> list[Assist]:
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


def _inbox_lines(
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
            f"{_duration(first)}, "
            + change_text(first, previous.first_response, relative=True, better="lower"),
        ),
        (
            "Median time to close",
            f"{_duration(close)}, "
            + change_text(close, previous.time_to_close, relative=True, better="lower"),
        ),
    ]


async def get_inbox_performance(ctx: ToolContext, args: BaseModel) -> list[Deliverable]:
    assert isinstance(args, a.GetInboxPerformanceArgs)
    period = args.period or "this_week"
    current, previous = analytics.windows(period, ctx.now, ctx.principal.timezone)
    member: Member | None = None
    if args.member:
        try:
            member = await find_by_name(ctx.session, ctx.principal, args.member)
        except MemberNotFound as exc:
            return error_reply(str(exc))
    assists = await inbox_assists(ctx, previous.start, member.id if member else None)
    now_figures, before = inbox_figures(assists, current), inbox_figures(assists, previous)
    open_now = [x for x in assists if x.status != "closed"]
    lines = _inbox_lines(now_figures, before, open_now)
    advice = inbox_advice(open_now, ctx.now, team=member is None)
    who = member.name if member else "the team"
    text = (
        f"AI Inbox {current.label} for {who}:\n"
        + "\n".join(f"- {label}: {value}" for label, value in lines)
        + f"\nNext step: {advice}"
    )
    return [
        Deliverable(
            kind="card",
            title=f"Inbox performance, {current.label}" + (f": {member.name}" if member else ""),
            text=text,
            fields=tuple(CardField(label=label, value=value) for label, value in lines),
            data={
                "period": period,
                "member": member.name if member else None,
                "current": now_figures.as_row(),
                "previous": before.as_row(),
                "open_now": len(open_now),
                "suggestion": advice,
            },
        )
    ]


# --- patterns ----------------------------------------------------------------------------------

PATTERN_SUBJECTS = {
    "escalations": "escalated conversations",
    "conversations": "conversations the AI did not resolve",
    "assists": "assists",
    "feedback": "conversations rated 1 or 2",
}


def _pattern_keys(focus: str, rows: Sequence[analytics.ConversationRow]) -> list[str]:
    if focus == "escalations":
        picked = [r for r in rows if r.escalated]
    elif focus == "conversations":
        picked = [r for r in rows if not r.resolved_by_ai]
    else:  # feedback
        picked = [r for r in rows if r.csat is not None and r.csat <= 2]
    return [r.topic or "other" for r in picked]


async def _assists_opened(ctx: ToolContext, window: analytics.Window) -> list[Assist]:
    rows = await ctx.session.scalars(
        select(Assist).where(
            Assist.workspace_id == ctx.principal.workspace_id,
            Assist.created_at >= window.start,
            Assist.created_at < window.end,
        )
    )
    return list(rows)


def biggest_riser(now: Counter[str], before: Counter[str]) -> tuple[str, int, int] | None:
    """The key that grew most against the period before: (key, count now, count before)."""
    rises = [(key, n, before.get(key, 0)) for key, n in now.items() if n > before.get(key, 0)]
    if not rises:
        return None
    return min(rises, key=lambda r: (r[2] - r[1], -r[1], r[0]))


async def analyze_patterns(ctx: ToolContext, args: BaseModel) -> list[Deliverable]:
    assert isinstance(args, a.AnalyzePatternsArgs)
    focus = args.focus or "escalations"
    period = args.period or "last_30_days"
    current, previous = analytics.windows(period, ctx.now, ctx.principal.timezone)
    ws = ctx.principal.workspace_id
    if focus == "assists":
        opened = await _assists_opened(ctx, current)
        now = Counter(x.category or "other" for x in opened)
        before = Counter(x.category or "other" for x in await _assists_opened(ctx, previous))
    else:
        rows, earlier = await analytics.conversations_pair(ctx.session, ws, current, previous)
        now = Counter(_pattern_keys(focus, rows))
        before = Counter(_pattern_keys(focus, earlier))
    subject = PATTERN_SUBJECTS[focus]
    total, prior = sum(now.values()), sum(before.values())
    if not total:
        return [Deliverable(text=f"No {subject} {current.label}: nothing recurring to report.")]
    top = sorted(now.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    items = tuple(
        f"{key}: {n} ({100 * n / total:.0f}%, {n - before.get(key, 0):+d} vs the period before)"
        for key, n in top
    )
    riser = biggest_riser(now, before)
    lead, lead_count = top[0]
    if focus == "assists":
        example = await ctx.session.scalar(
            select(Assist)
            .where(
                Assist.workspace_id == ws,
                Assist.status == "closed",
                func.lower(Assist.category) == lead.lower(),
            )
            .order_by(Assist.closed_at.desc())
            .limit(1)
        )
        advice = (
            f"Most assists are about {lead} ({lead_count}): say 'promote {example.ref} to "
            f"training' so the agent learns from that resolved {lead} case."
            if example
            else f"Most assists are about {lead} ({lead_count}): add Q&A for {lead}."
        )
    else:
        gap = await ctx.session.scalar(
            select(KnowledgeGap)
            .where(
                KnowledgeGap.workspace_id == ws,
                KnowledgeGap.resolved.is_(False),
                KnowledgeGap.topic == lead,
            )
            .order_by(KnowledgeGap.occurrences.desc())
            .limit(1)
        )
        advice = f"Add Q&A for {lead}, {100 * lead_count / total:.0f}% of the {subject}" + (
            f', starting with "{gap.question}" (asked {gap.occurrences} times unanswered).'
            if gap
            else "."
        )
    rise = (
        f"Biggest riser: {riser[0]}, {riser[1]} from {riser[2]} (+{riser[1] - riser[2]})."
        if riser
        else "Nothing rose against the period before."
    )
    text = (
        f"Recurring issues {current.label}: {total} {subject} "
        f"({change_text(total, prior, relative=True)}).\n"
        + "\n".join(f"- {i}" for i in items)
        + f"\n{rise}\nNext step: {advice}"
    )
    return [
        Deliverable(
            kind="list",
            title=f"Patterns in {subject}, {current.label}",
            text=text,
            items=items,
            data={
                "focus": focus,
                "period": period,
                "total": total,
                "previous_total": prior,
                "top": top,
                "riser": list(riser) if riser else None,
                "suggestion": advice,
                "chart": {"type": "bar"},
            },
        )
    ]


# --- training suggestions ------------------------------------------------------------------------


def same_question(text: str) -> str:
    return " ".join(text.casefold().rstrip("?!. ").split())


async def list_training_suggestions(ctx: ToolContext, args: BaseModel) -> list[Deliverable]:
    assert isinstance(args, a.ListTrainingSuggestionsArgs)
    status = args.status or "pending"
    ws = ctx.principal.workspace_id
    suggestions = list(
        await ctx.session.scalars(
            select(TrainingSuggestion)
            .where(TrainingSuggestion.workspace_id == ws, TrainingSuggestion.status == status)
            .order_by(TrainingSuggestion.quality.desc(), TrainingSuggestion.id)
        )
    )
    if not suggestions:
        return [Deliverable(text=f"No {status} training suggestions.")]
    qa = list(await ctx.session.scalars(select(QaPair).where(QaPair.workspace_id == ws)))
    by_id = {pair.id: pair for pair in qa}
    by_question = {same_question(pair.question): pair for pair in qa if pair.active}

    def conflict(s: TrainingSuggestion) -> QaPair | None:
        # The stored link when scoring found one; else an active Q&A asking the same thing.
        linked = by_id.get(s.conflicts_with) if s.conflicts_with is not None else None
        return linked or by_question.get(same_question(s.question))

    items: list[str] = []
    for s in suggestions:
        line = f'#{s.id} "{s.question}" → "{s.answer}" (quality {s.quality * 100:.0f}%)'
        clash = conflict(s)
        if clash is not None:
            line += f'; conflicts with Q&A #{clash.id} "{clash.question}" ("{clash.answer}")'
        items.append(line)
    if status == "pending":
        clean = [s for s in suggestions if conflict(s) is None]
        if clean:
            best = clean[0]
            advice = (
                f"Approve #{best.id}, the best without conflicts (quality "
                f"{best.quality * 100:.0f}%): say 'approve training suggestion {best.id}'."
            )
        else:
            best = suggestions[0]
            clash = conflict(best)
            assert clash is not None
            advice = (
                f"Decide between #{best.id} and Q&A #{clash.id}: they answer the same question "
                f"differently; edit Q&A #{clash.id} if the suggestion is right."
            )
    else:
        waiting = await ctx.session.scalar(
            select(func.count())
            .select_from(TrainingSuggestion)
            .where(TrainingSuggestion.workspace_id == ws, TrainingSuggestion.status == "pending")
        )
        advice = (
            f"{waiting} suggestion(s) are waiting for review: ask for the pending ones."
            if waiting
            else "Nothing is waiting for review."
        )
    text = (
        f"{len(suggestions)} {status} training suggestion(s), best first:\n"
        + "\n".join(f"- {i}" for i in items)
        + f"\nNext step: {advice}"
    )
    return [
        Deliverable(
            kind="list",
            title=f"Training suggestions ({status})",
            text=text,
            items=tuple(items),
            data={
                "status": status,
                "suggestions": [
                    {
                        "id": s.id,
                        "quality": s.quality,
                        "conflicts_with": (clash.id if (clash := conflict(s)) else None),
                    }
                    for s in suggestions
                ],
                "suggestion": advice,
            },
        )
    ]


# --- schedules -----------------------------------------------------------------------------------


def _when(schedule: Schedule) -> str:
    days = [str(d).lower() for d in schedule.days]
    if schedule.one_off_at is not None:
        return f"once, {_local(schedule.one_off_at, schedule.timezone)}"
    if schedule.frequency == "monthly":
        day = schedule.day_of_month or 1
        cadence = f"monthly on day {day}" + (" (or the month's last day)" if day > 28 else "")
    elif schedule.frequency == "weekdays" or days == list(WEEKDAYS[:5]):
        cadence = "weekdays"
    elif schedule.frequency == "weekly" and days:
        cadence = "every " + ", ".join(d.capitalize() for d in days)
    elif days:
        cadence = f"{schedule.frequency} ({', '.join(d[:3].capitalize() for d in days)})"
    else:
        cadence = schedule.frequency
    return f"{cadence} at {schedule.time} {schedule.timezone}"


def _schedule_label(schedule: Schedule) -> str:
    named = (schedule.params or {}).get("label")
    return str(named or BRIEFING_LABELS.get(schedule.briefing_type, schedule.briefing_type))


async def list_schedules(ctx: ToolContext, args: BaseModel) -> list[Deliverable]:
    assert isinstance(args, a.ListSchedulesArgs)
    if ctx.principal.member_id is None:
        return error_reply("Only team members have scheduled briefings.")
    query = select(Schedule).where(
        Schedule.workspace_id == ctx.principal.workspace_id,
        Schedule.member_id == ctx.principal.member_id,
        Schedule.active.is_(True),
    )
    mine = list(await ctx.session.scalars(query.order_by(Schedule.id)))
    shown = [s for s in mine if args.briefing_type in (None, s.briefing_type)]
    missing = [t for t in BRIEFING_LABELS if t not in {s.briefing_type for s in mine}]
    channel = mine[0].channel if mine and mine[0].channel else "email"
    if missing:
        label = BRIEFING_LABELS[missing[0]]
        advice = f"You don't get the {label} yet: say 'send me the {label} on {channel} at 09:00'."
    else:
        advice = "You get every briefing; say 'move my daily inbox summary to 07:30' to retime one."
    if not shown:
        what = BRIEFING_LABELS[args.briefing_type] if args.briefing_type else "briefings"
        return [Deliverable(text=f"You have no scheduled {what}.\nNext step: {advice}")]
    items = tuple(
        f"#{s.id} {_schedule_label(s)}: {_when(s)}, "
        f"on {s.channel or 'your default channel'}" + (f" ({s.address})" if s.address else "")
        for s in shown
    )
    text = (
        f"Your {len(shown)} scheduled briefing(s):\n"
        + "\n".join(f"- {i}" for i in items)
        + f"\nNext step: {advice}"
    )
    return [
        Deliverable(
            kind="list",
            title="Your briefings",
            text=text,
            items=items,
            data={
                "schedules": [
                    {
                        "id": s.id,
                        "briefing_type": s.briefing_type,
                        "frequency": s.frequency,
                        "days": list(s.days),
                        "time": s.time,
                        "timezone": s.timezone,
                        "channel": s.channel,
                    }
                    for s in shown
                ],
                "suggestion": advice,
            },
        )
    ]


# --- history -------------------------------------------------------------------------------------


async def show_history(ctx: ToolContext, args: BaseModel) -> list[Deliverable]:
    assert isinstance(args, a.ShowHistoryArgs)
    tz = ctx.principal.timezone
    conditions = [Snapshot.workspace_id == ctx.principal.workspace_id]
    label = ""
    if args.period:
        current, _ = analytics.windows(args.period, ctx.now, tz)
        conditions += [Snapshot.created_at >= current.start, Snapshot.created_at < current.end]
        label = f" {current.label}"
    total = await ctx.session.scalar(select(func.count()).select_from(Snapshot).where(*conditions))
    snaps = list(
        await ctx.session.scalars(
            select(Snapshot)
            .where(*conditions)
            .order_by(Snapshot.created_at.desc(), Snapshot.id.desc())
            .limit(args.limit or 10)
        )
    )
    if not snaps:
        return [Deliverable(text=f"No changes were made{label}.")]
    names = await member_names(ctx)
    keep = retention(ctx.principal.plan)

    def state(snap: Snapshot) -> str:
        if snap.undone_at is not None:
            return f"undone {_local(snap.undone_at, tz)}"
        if snap.restored_at is not None:
            return f"restored {_local(snap.restored_at, tz)}"
        if not snap.before:
            return "sent out, cannot be restored"
        if ctx.now - snap.created_at > keep:
            return f"older than the {keep.days}-day retention"
        return "can be restored"

    items = tuple(
        f"#{s.id} {_local(s.created_at, tz)}, {names.get(s.member_id or '', 'someone')}: "
        f"{s.summary} ({state(s)})"
        for s in snaps
    )
    restorable = [s for s in snaps if state(s) == "can be restored"]
    advice = (
        f"Say 'restore snapshot {restorable[0].id}' to put back the state from before "
        f'"{restorable[0].summary}"; it is proposed for approval first.'
        if restorable
        else "None of these can be restored; 'restore snapshot N' works on ones that can."
    )
    more = f"\n… and {(total or 0) - len(snaps)} earlier." if (total or 0) > len(snaps) else ""
    text = (
        f"Changes{label}, newest first:\n"
        + "\n".join(f"- {i}" for i in items)
        + more
        + f"\nNext step: {advice}"
    )
    return [
        Deliverable(
            kind="list",
            title="History",
            text=text,
            items=items,
            data={"snapshots": [s.id for s in snaps], "total": total, "suggestion": advice},
        )
    ]


# --- integrations --------------------------------------------------------------------------------


async def list_integrations(ctx: ToolContext, args: BaseModel) -> list[Deliverable]:
    assert isinstance(args, a.ListIntegrationsArgs)
    rows = list(
        await ctx.session.scalars(
            select(Integration)
            .where(Integration.workspace_id == ctx.principal.workspace_id)
            .order_by(Integration.name)
        )
    )
    if args.integration:
        wanted = args.integration.strip().lower()
        picked = [r for r in rows if r.name.lower() == wanted] or [
            r for r in rows if wanted in r.name.lower()
        ]
        if not picked:
            known = ", ".join(r.name for r in rows) or "none yet"
            return error_reply(
                f"There is no integration called {args.integration} (known: {known})."
            )
        rows = picked
    if not rows:
        return [Deliverable(text="No integrations are connected yet.")]
    items = tuple(f"{r.name}: {'on' if r.enabled else 'off'}" for r in rows)
    off = [r for r in rows if not r.enabled]
    if off:
        advice = f"{off[0].name} is off: say 'turn on {off[0].name}' to connect it again."
    elif len(rows) == 1:
        advice = f"{rows[0].name} is on; say 'turn off {rows[0].name}' to pause it."
    else:
        advice = "Everything is on; nothing to do."
    agent = await ctx.session.scalar(
        select(AiAgent).where(AiAgent.workspace_id == ctx.principal.workspace_id).limit(1)
    )
    channels = (
        f"\n{agent.name} answers customers on: {', '.join(map(str, agent.channels))}."
        if agent and agent.channels and not args.integration
        else ""
    )
    text = (
        "Integrations:\n" + "\n".join(f"- {i}" for i in items) + channels + f"\nNext step: {advice}"
    )
    return [
        Deliverable(
            kind="list",
            title="Integrations",
            text=text,
            items=items,
            data={
                "integrations": {r.name: r.enabled for r in rows},
                "suggestion": advice,
            },
        )
    ]


# --- reports -------------------------------------------------------------------------------------

REPORT_TITLES = {
    "performance": "Performance report",
    "inbox": "AI Inbox report",
    "assists": "Assists report",
    "topics": "Topics report",
    "knowledge_gaps": "Knowledge gaps report",
    "workload": "Workload report",
    "roi": "ROI report",
    "csat": "CSAT report",
}


@dataclass(frozen=True)
class Report:
    """A report's content, whatever it is rendered into later (text now, PDF/XLSX/CSV later)."""

    lines: list[str]
    rows: list[dict[str, Any]]
    suggestion: str
    fields: tuple[CardField, ...] = ()


@dataclass(frozen=True)
class TopicRow:
    topic: str
    conversations: int
    share: float
    previous: int
    resolution_rate: float
    escalated: int


@dataclass(frozen=True)
class WorkloadRow:
    member: str
    role: str | None
    open: int
    high_or_urgent: int
    closed: int
    closed_previous: int


@dataclass(frozen=True)
class CsatRow:
    topic: str
    responses: int
    csat: float


@dataclass(frozen=True)
class ReportInput:
    ctx: ToolContext
    current: analytics.Window
    previous: analytics.Window


async def _performance_report(r: ReportInput) -> Report:
    ws = r.ctx.principal.workspace_id
    rows, before = await analytics.conversations_pair(r.ctx.session, ws, r.current, r.previous)
    out: list[dict[str, Any]] = []
    fields: list[CardField] = []
    worse: list[str] = []
    for metric, label in analytics.METRIC_LABELS.items():
        value, prior = analytics.compute(metric, rows), analytics.compute(metric, before)
        trend = analytics.trend(metric, value, prior)
        if trend.endswith("(worse)"):
            worse.append(metric)
        shown = analytics.fmt(metric, value)
        out.append(
            {"metric": metric, "label": label, "value": value, "previous": prior, "trend": trend}
        )
        fields.append(CardField(label=label, value=f"{shown}, {trend}"))
    focus = next((m for m in worse if m != "volume"), "resolution_rate")
    return Report(
        lines=[f"{f.label}: {f.value}" for f in fields],
        rows=out,
        suggestion=_slowest_channel(rows)
        if focus == "first_response_time"
        else analytics.suggestion(focus, rows),
        fields=tuple(fields),
    )


def _slowest_channel(rows: Sequence[analytics.ConversationRow]) -> str:
    """Where first responses are slowest: the channel whose settings to look at first."""
    times: dict[str, list[float]] = {}
    for c in rows:
        if c.first_response_seconds is not None:
            times.setdefault(c.channel, []).append(c.first_response_seconds)
    if not times:
        return analytics.suggestion("first_response_time", rows)
    channel, values = max(times.items(), key=lambda kv: (statistics.median(kv[1]), kv[0]))
    return (
        f"First responses are slowest on {channel} (median "
        f"{analytics.fmt('first_response_time', statistics.median(values))}): check its "
        "business hours and away message."
    )


async def _inbox_report(r: ReportInput) -> Report:
    assists = await inbox_assists(r.ctx, r.previous.start)
    current, previous = inbox_figures(assists, r.current), inbox_figures(assists, r.previous)
    open_now = [x for x in assists if x.status != "closed"]
    lines = _inbox_lines(current, previous, open_now)
    now_row, before_row = current.as_row(), previous.as_row()
    rows = [{"metric": key, "value": now_row[key], "previous": before_row[key]} for key in now_row]
    rows.append({"metric": "open_now", "value": len(open_now), "previous": None})
    return Report(
        lines=[f"{label}: {value}" for label, value in lines],
        rows=rows,
        suggestion=inbox_advice(open_now, r.ctx.now, team=True),
        fields=tuple(CardField(label=label, value=value) for label, value in lines),
    )


async def _assists_report(r: ReportInput) -> Report:
    opened = sorted(await _assists_opened(r.ctx, r.current), key=lambda x: x.number)
    earlier = await _assists_opened(r.ctx, r.previous)
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
    open_now = await _open_assists(r.ctx)
    return Report(lines=lines, rows=rows, suggestion=inbox_advice(open_now, r.ctx.now, team=True))


async def _topics_report(r: ReportInput) -> Report:
    ws = r.ctx.principal.workspace_id
    rows, earlier = await analytics.conversations_pair(r.ctx.session, ws, r.current, r.previous)
    before = Counter(c.topic or "other" for c in earlier)
    if not rows:
        return Report(lines=["No conversations."], rows=[], suggestion="Nothing to act on yet.")
    groups: dict[str, list[analytics.ConversationRow]] = {}
    for c in rows:
        groups.setdefault(c.topic or "other", []).append(c)
    ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    out = [
        TopicRow(
            topic=topic,
            conversations=len(group),
            share=100 * len(group) / len(rows),
            previous=before.get(topic, 0),
            resolution_rate=100 * sum(c.resolved_by_ai for c in group) / len(group),
            escalated=sum(c.escalated for c in group),
        )
        for topic, group in ordered
    ]
    lines = [
        f"{o.topic}: {o.conversations} ({o.share:.0f}%, "
        f"{o.conversations - o.previous:+d} vs the period before), "
        f"{o.resolution_rate:.0f}% resolved by AI, {o.escalated} escalated"
        for o in out
    ]
    worst = max(out, key=lambda o: (o.escalated, o.conversations))
    advice = (
        f"Add Q&A for {worst.topic}: {worst.escalated} of its {worst.conversations} "
        "conversations were escalated, the most of any topic."
    )
    return Report(
        lines=[f"{len(rows)} conversations", *lines],
        rows=[asdict(o) for o in out],
        suggestion=advice,
    )


async def _knowledge_gaps_report(r: ReportInput) -> Report:
    gaps = list(
        await r.ctx.session.scalars(
            select(KnowledgeGap)
            .where(
                KnowledgeGap.workspace_id == r.ctx.principal.workspace_id,
                KnowledgeGap.resolved.is_(False),
                KnowledgeGap.last_seen >= r.current.start,
            )
            .order_by(KnowledgeGap.occurrences.desc(), KnowledgeGap.question)
        )
    )
    if not gaps:
        return Report(
            lines=["No open knowledge gaps."], rows=[], suggestion="Nothing is missing right now."
        )

    async def first_seen_in(window: analytics.Window) -> int:
        return (
            await r.ctx.session.scalar(
                select(func.count())
                .select_from(KnowledgeGap)
                .where(
                    KnowledgeGap.workspace_id == r.ctx.principal.workspace_id,
                    KnowledgeGap.first_seen >= window.start,
                    KnowledgeGap.first_seen < window.end,
                )
            )
            or 0
        )

    new_now, new_before = await first_seen_in(r.current), await first_seen_in(r.previous)
    out = [
        {
            "question": g.question,
            "topic": g.topic,
            "occurrences": g.occurrences,
            "first_seen": g.first_seen.isoformat(),
            "last_seen": g.last_seen.isoformat(),
        }
        for g in gaps
    ]
    lines = [
        f"{len(gaps)} open gap(s), {new_now} new: {change_text(new_now, new_before)}",
        *(f'"{g.question}" ({g.topic or "no topic"}): asked {g.occurrences} times' for g in gaps),
    ]
    top = gaps[0]
    advice = f'Add a Q&A pair for "{top.question}" ({top.occurrences} asks), the most asked.'
    return Report(lines=lines, rows=out, suggestion=advice)


async def _workload_report(r: ReportInput) -> Report:
    members = await active_members(r.ctx.session, r.ctx.principal.workspace_id)
    assists = await inbox_assists(r.ctx, r.previous.start)
    open_by = Counter(x.assignee_id for x in assists if x.status != "closed")
    pressing_by = Counter(
        x.assignee_id for x in assists if x.status != "closed" and x.priority in ("urgent", "high")
    )
    closed_now = Counter(
        x.assignee_id for x in assists if x.status == "closed" and _inside(x.closed_at, r.current)
    )
    closed_before = Counter(
        x.assignee_id for x in assists if x.status == "closed" and _inside(x.closed_at, r.previous)
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


async def human_cost_per_conversation(ctx: ToolContext) -> float:
    """USD per human-handled conversation: the agent config's value, else the default."""
    agent = await ctx.session.scalar(
        select(AiAgent).where(AiAgent.workspace_id == ctx.principal.workspace_id).limit(1)
    )
    configured = agent.config.get("human_cost_per_conversation") if agent else None
    try:
        return float(configured) if configured is not None else DEFAULT_HUMAN_COST_PER_CONVERSATION
    except (TypeError, ValueError):
        return DEFAULT_HUMAN_COST_PER_CONVERSATION


async def roi_report(r: ReportInput) -> Report:
    ws = r.ctx.principal.workspace_id
    rows, before = await analytics.conversations_pair(r.ctx.session, ws, r.current, r.previous)
    rate = await human_cost_per_conversation(r.ctx)
    resolved = sum(c.resolved_by_ai for c in rows)
    resolved_before = sum(c.resolved_by_ai for c in before)
    hours = resolved * MINUTES_SAVED_PER_CONVERSATION / 60
    hours_before = resolved_before * MINUTES_SAVED_PER_CONVERSATION / 60
    saved, saved_before = resolved * rate, resolved_before * rate
    out = [
        {"metric": "conversations", "value": len(rows), "previous": len(before)},
        {"metric": "resolved_by_ai", "value": resolved, "previous": resolved_before},
        {"metric": "hours_saved", "value": hours, "previous": hours_before},
        {"metric": "human_cost_avoided_usd", "value": saved, "previous": saved_before},
        {"metric": "cost_per_human_conversation_usd", "value": rate, "previous": rate},
    ]
    pairs = [
        ("Conversations", f"{len(rows)}, {change_text(len(rows), len(before))}"),
        (
            "Resolved by AI",
            f"{resolved}, {change_text(resolved, resolved_before, better='higher')}",
        ),
        (
            "Hours saved",
            f"{hours:.1f} h at {MINUTES_SAVED_PER_CONVERSATION} min each, "
            + change_text(hours, hours_before, show=lambda v: f"{v:.1f} h", better="higher"),
        ),
        (
            "Human cost avoided",
            f"${saved:,.2f} at ${rate:,.2f} per human-handled conversation, "
            + change_text(saved, saved_before, show=lambda v: f"${v:,.2f}", better="higher"),
        ),
    ]
    escalations = Counter(c.topic or "other" for c in rows if c.escalated)
    if escalations:
        topic, n = sorted(escalations.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        advice = (
            f"Add Q&A for {topic}: its {n} escalations cost about ${n * rate:,.2f} of human "
            "time this period."
        )
    else:
        advice = "No escalations this period: keep the answers current."
    return Report(
        lines=[f"{label}: {value}" for label, value in pairs],
        rows=out,
        suggestion=advice,
        fields=tuple(CardField(label=label, value=value) for label, value in pairs),
    )


async def _csat_report(r: ReportInput) -> Report:
    ws = r.ctx.principal.workspace_id
    current, before = await analytics.conversations_pair(r.ctx.session, ws, r.current, r.previous)
    rows = [c for c in current if c.csat is not None]
    value, prior = analytics.compute("csat", rows), analytics.compute("csat", before)
    trend = analytics.trend("csat", value, prior)
    spread = Counter(c.csat for c in rows)
    groups: dict[str, list[int]] = {}
    for c in rows:
        groups.setdefault(c.topic or "other", []).append(c.csat or 0)
    out = sorted(
        (CsatRow(topic, len(scores), statistics.fmean(scores)) for topic, scores in groups.items()),
        key=lambda o: (o.csat, o.topic),
    )
    fields = (
        CardField(label="CSAT", value=f"{analytics.fmt('csat', value)}, {trend}"),
        CardField(label="Responses", value=str(len(rows))),
        CardField(
            label="Scores", value=", ".join(f"{k}★ {spread.get(k, 0)}" for k in range(5, 0, -1))
        ),
    )
    lines = [f"{f.label}: {f.value}" for f in fields] + [
        f"{o.topic}: {o.csat:.2f}/5 over {o.responses} rating(s)" for o in out
    ]
    # A topic needs a few ratings before it is singled out.
    rated = [o for o in out if o.responses >= 3] or out
    if rated:
        low = rated[0]
        advice = (
            f"Review the answers for {low.topic}: lowest CSAT at {low.csat:.2f}/5 over "
            f"{low.responses} ratings."
        )
    else:
        advice = "No ratings yet: ask customers to rate their conversation."
    return Report(lines=lines, rows=[asdict(o) for o in out], suggestion=advice, fields=fields)


REPORTS: dict[str, Callable[[ReportInput], Awaitable[Report]]] = {
    "performance": _performance_report,
    "inbox": _inbox_report,
    "assists": _assists_report,
    "topics": _topics_report,
    "knowledge_gaps": _knowledge_gaps_report,
    "workload": _workload_report,
    "roi": roi_report,
    "csat": _csat_report,
}


async def run_report(ctx: ToolContext, args: BaseModel) -> list[Deliverable]:
    assert isinstance(args, a.RunReportArgs)
    period = args.period or "last_30_days"
    current, previous = analytics.windows(period, ctx.now, ctx.principal.timezone)
    r = ReportInput(ctx, current, previous)
    report = await REPORTS[args.report](r)
    title = f"{REPORT_TITLES[args.report]}, {current.label}"
    text = (
        f"{title}:\n"
        + "\n".join(f"- {line}" for line in report.lines)
        + f"\nNext step: {report.suggestion}"
    )
    card = Deliverable(
        kind="card" if report.fields else "list",
        title=title,
        text=text,
        fields=report.fields,
        items=() if report.fields else tuple(report.lines),
        data={
            "report": args.report,
            "period": period,
            "format": args.format or "pdf",
            "rows": report.rows,
            "title": title,
            "start": current.start.isoformat(),
            "end": current.end.isoformat(),
            "suggestion": report.suggestion,
        },
    )
    if not args.format:
        return [card]
    return [card, await _report_file(r, args.report, args.format, title, report)]


FILE_FORMAT_NAMES = {"pdf": "PDF", "xlsx": "spreadsheet (XLSX)", "csv": "CSV"}


async def _report_file(
    r: ReportInput, kind: str, fmt: ReportFormat, title: str, report: Report
) -> Deliverable:
    """The report rendered as FMT (off the event loop) and stored in the media store."""
    tz = ZoneInfo(r.ctx.principal.timezone)
    first = r.current.start.astimezone(tz).date()
    last = (r.current.end - timedelta(microseconds=1)).astimezone(tz).date()
    span = (f"{first:%Y-%m-%d}", f"{last:%Y-%m-%d}")
    content = ReportContent(
        title=title,
        period=f"{r.current.label} ({span[0]}{'' if first == last else ' to ' + span[1]})",
        rows=report.rows,
        summary=report.lines,
        fields=tuple((f.label, f.value) for f in report.fields),
        suggestion=report.suggestion,
        generated_at=r.ctx.now.astimezone(tz),
    )
    chart = await report_chart(r, kind, report) if fmt == "pdf" else None
    data = await asyncio.to_thread(_render_report, fmt, content, chart)
    dates = span[0] if first == last else f"{span[0]}-to-{span[1]}"
    filename = f"{kind.replace('_', '-')}-report-{dates}.{fmt}"
    media = MediaStore.add(
        r.ctx.session,
        workspace_id=r.ctx.principal.workspace_id,
        filename=filename,
        content_type=CONTENT_TYPES[fmt],
        data=data,
        now=r.ctx.now,
    )
    return Deliverable(
        kind="file",
        title=filename,
        text=f"{title} as {FILE_FORMAT_NAMES[fmt]}: {len(report.rows)} row(s).",
        data={
            "media": {
                "id": media.id,
                "filename": media.filename,
                "content_type": media.content_type,
                "size": media.size,
                "expires_at": media.expires_at.isoformat(),
            }
        },
    )


def _render_report(
    fmt: ReportFormat, content: ReportContent, chart: Callable[[], bytes] | None
) -> bytes:
    if chart is not None:
        content = replace(content, chart_png=chart())
    return render_report(fmt, content)


async def report_chart(r: ReportInput, kind: str, report: Report) -> Callable[[], bytes] | None:
    """How to draw the report's chart (run later, in a thread): a daily series where the report
    follows conversations over time, bars where it compares categories."""
    rows = report.rows
    if kind in ("performance", "roi"):
        ws, tz = r.ctx.principal.workspace_id, r.ctx.principal.timezone
        now, before = await analytics.conversations_pair(r.ctx.session, ws, r.current, r.previous)
        if kind == "roi":
            now = [c for c in now if c.resolved_by_ai]
            before = [c for c in before if c.resolved_by_ai]
        metric = "resolution_rate" if kind == "performance" else "volume"
        points = analytics.daily_series(metric, now, r.current, tz)
        earlier = [v for _, v in analytics.daily_series(metric, before, r.previous, tz)]
        return partial(
            charts.line_chart,
            "Resolution rate per day" if kind == "performance" else "Resolved by AI per day",
            points,
            previous=earlier,
            y_label="Resolution rate" if kind == "performance" else "Conversations",
            percent=kind == "performance",
        )
    if not rows:
        return None
    if kind == "inbox":
        figures = {row["metric"]: row for row in rows}
        keys = [("opened", "Opened"), ("closed", "Closed"), ("open_now", "Open now")]
        return partial(
            charts.bar_chart,
            "AI Inbox: assists opened and closed",
            [label for _, label in keys],
            {"This period": [figures[k]["value"] for k, _ in keys]},
            previous=[figures[k]["previous"] for k, _ in keys],
            value_label="Assists",
            category_label="",
        )
    if kind == "assists":
        by_priority = Counter(row["priority"] for row in rows)
        order = sorted(by_priority, key=lambda p: (PRIORITY_ORDER.get(p, 9), p))
        return partial(
            charts.bar_chart,
            "Assists opened by priority",
            order,
            {"Opened": [by_priority[p] for p in order]},
            value_label="Assists",
            category_label="Priority",
        )
    if kind == "topics":
        return partial(
            charts.bar_chart,
            "Conversations by topic",
            [row["topic"] for row in rows],
            {"This period": [row["conversations"] for row in rows]},
            previous=[row["previous"] for row in rows],
            value_label="Conversations",
            category_label="Topic",
        )
    if kind == "knowledge_gaps":
        return partial(
            charts.bar_chart,
            "Most asked unanswered questions",
            [row["question"] for row in rows],
            {"Times asked": [row["occurrences"] for row in rows]},
            value_label="Times asked",
            category_label="Question",
        )
    if kind == "workload":
        return partial(
            charts.bar_chart,
            "Assists per member",
            [row["member"] for row in rows],
            {"Open": [row["open"] for row in rows], "Closed": [row["closed"] for row in rows]},
            value_label="Assists",
            category_label="Member",
        )
    if kind == "csat":
        return partial(
            charts.bar_chart,
            "CSAT by topic",
            [row["topic"] for row in rows],
            {"CSAT": [row["csat"] for row in rows]},
            value_label="Average rating (1-5)",
            category_label="Topic",
        )
    return None


HANDLERS = {
    "get_metrics": get_metrics,
    "get_topic_breakdown": get_topic_breakdown,
    "get_knowledge_gaps": get_knowledge_gaps,
    "get_agent_workload": get_agent_workload,
    "list_assists": list_assists,
    "show_assist": show_assist,
    "list_team": list_team,
    "get_agent_config": get_agent_config,
    "get_inbox_performance": get_inbox_performance,
    "analyze_patterns": analyze_patterns,
    "list_training_suggestions": list_training_suggestions,
    "list_schedules": list_schedules,
    "show_history": show_history,
    "list_integrations": list_integrations,
    "run_report": run_report,
}
