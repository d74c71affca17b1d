"""Read tools: answered at once from the workspace's data."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from pydantic import BaseModel
from sqlalchemy import func, select

from core import analytics
from core.members import MemberNotFound, active_members, find_by_name
from core.tools import args as a
from core.tools.registry import ToolContext
from delivery.deliverable import CardField, Deliverable
from storage.domain import AiAgent, Assist, KnowledgeGap
from storage.models import Member

PRIORITY_ORDER = {"urgent": 0, "high": 1, "normal": 2, "low": 3}


def _error(text: str) -> list[Deliverable]:
    return [Deliverable(kind="error", text=text)]


async def get_metrics(ctx: ToolContext, args: BaseModel) -> list[Deliverable]:
    assert isinstance(args, a.GetMetricsArgs)
    period = args.period or "this_week"
    current, previous = analytics.windows(period, ctx.now, ctx.principal.timezone)
    rows = await analytics.conversations(ctx.session, ctx.principal.workspace_id, current)
    before = await analytics.conversations(ctx.session, ctx.principal.workspace_id, previous)
    if args.channel:
        rows = [r for r in rows if r.channel == args.channel]
        before = [r for r in before if r.channel == args.channel]
    value = analytics.compute(args.metric, rows)
    prior = analytics.compute(args.metric, before)
    label = analytics.METRIC_LABELS[args.metric]
    series = analytics.daily_series(args.metric, rows, current, ctx.principal.timezone)
    points = [v for _, v in series if v is not None]
    trend = analytics.trend(args.metric, value, prior)
    advice = analytics.suggestion(args.metric, rows)
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
                CardField(label="Conversations", value=str(len(rows))),
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
    rows = await analytics.conversations(ctx.session, ctx.principal.workspace_id, current)
    before = Counter(
        r.topic or "other"
        for r in await analytics.conversations(ctx.session, ctx.principal.workspace_id, previous)
    )
    if not rows:
        return [Deliverable(text=f"No conversations {current.label}.")]
    top = analytics.top_topics(rows, args.limit or 5)
    items = []
    for topic, count in top:
        share = 100 * count / len(rows)
        change = count - before.get(topic, 0)
        items.append(f"{topic}: {count} ({share:.0f}%, {change:+d} vs the period before)")
    lead = top[0][0]
    text = (
        f"Top topics {current.label} ({len(rows)} conversations):\n"
        + "\n".join(f"- {i}" for i in items)
        + f"\nNext step: review the answers for {lead}, the biggest driver."
    )
    return [
        Deliverable(
            kind="list",
            title=f"Topics, {current.label}",
            text=text,
            items=tuple(items),
            data={"topics": top, "total": len(rows), "chart": {"type": "bar"}},
        )
    ]


async def get_knowledge_gaps(ctx: ToolContext, args: BaseModel) -> list[Deliverable]:
    assert isinstance(args, a.GetKnowledgeGapsArgs)
    query = select(KnowledgeGap).where(
        KnowledgeGap.workspace_id == ctx.principal.workspace_id, KnowledgeGap.resolved.is_(False)
    )
    if args.period:
        current, _ = analytics.windows(args.period, ctx.now, ctx.principal.timezone)
        query = query.where(KnowledgeGap.last_seen >= current.start)
    gaps = list(
        await ctx.session.scalars(
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
    members = {m.id: m for m in await active_members(ctx.session, ctx.principal.workspace_id)}
    assists = await _open_assists(ctx)
    counts = Counter(x.assignee_id for x in assists)
    if args.member:
        try:
            member = await find_by_name(ctx.session, ctx.principal, args.member)
        except MemberNotFound as exc:
            return _error(str(exc))
        mine = [x for x in assists if x.assignee_id == member.id]
        urgent = sum(x.priority in ("urgent", "high") for x in mine)
        text = f"{member.name} has {len(mine)} open assists ({urgent} high or urgent)."
        return [Deliverable(kind="card", title=f"Workload: {member.name}", text=text)]
    ranking = sorted(
        ((members[mid].name, n) for mid, n in counts.items() if mid in members),
        key=lambda pair: (-pair[1], pair[0]),
    )
    unassigned = counts.get(None, 0)
    items = tuple(f"{name}: {n} open" for name, n in ranking)
    text = "Open assists by assignee:\n" + "\n".join(f"- {i}" for i in items)
    text += f"\nUnassigned: {unassigned}."
    if ranking and unassigned:
        lightest = min(members.values(), key=lambda m: counts.get(m.id, 0))
        text += f"\nNext step: assign the unassigned ones to {lightest.name}, who has the fewest."
    return [Deliverable(kind="list", title="Workload", text=text, items=items)]


def assist_line(x: Assist, names: dict[str, str]) -> str:
    who = names.get(x.assignee_id or "", "unassigned")
    subject = x.subject or x.summary[:60]
    return f"{x.ref} [{x.priority}] {x.status} — {subject} ({who})"


async def list_assists(ctx: ToolContext, args: BaseModel) -> list[Deliverable]:
    assert isinstance(args, a.ListAssistsArgs)
    query = select(Assist).where(Assist.workspace_id == ctx.principal.workspace_id)
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
            return _error(str(exc))
        query = query.where(Assist.assignee_id == member.id)
    rows = list(await ctx.session.scalars(query))
    if args.label:
        rows = [x for x in rows if args.label.lower() in [str(v).lower() for v in x.labels]]
    rows.sort(key=lambda x: (PRIORITY_ORDER.get(x.priority, 9), x.created_at))
    names = {m.id: m.name for m in await active_members(ctx.session, ctx.principal.workspace_id)}
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
        return _error(f"There is no assist {args.assist}.")
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


HANDLERS = {
    "get_metrics": get_metrics,
    "get_topic_breakdown": get_topic_breakdown,
    "get_knowledge_gaps": get_knowledge_gaps,
    "get_agent_workload": get_agent_workload,
    "list_assists": list_assists,
    "show_assist": show_assist,
    "list_team": list_team,
    "get_agent_config": get_agent_config,
}
