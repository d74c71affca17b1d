"""Read tools on the AI Inbox: assists, who holds them, and how the inbox performs."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select

from core.assists.history import customer_assists, resolution_of
from core.assists.inbox import InboxFilter, inbox_query
from core.reports import analytics
from core.reports.figures import PRIORITY_ORDER, age_text, duration
from core.reports.inbox import inbox_performance
from core.reports.management import HIGH_LOAD_RULE, WINDOW, management_figures, queue_health
from core.reports.workload import OPEN_STATUSES, open_assignments
from core.schedules.timing import zone
from core.team.members import MemberNotFound, active_member_names, find_by_name
from core.tools import args as a
from core.tools.registry import ToolContext, error_reply
from models.deliverable import CardField, Deliverable
from storage.domain import Assist
from storage.models import Member
from storage.statements import select_rows


async def get_agent_workload(ctx: ToolContext, args: BaseModel) -> list[Deliverable]:
    assert isinstance(args, a.GetAgentWorkloadArgs)
    names = await active_member_names(ctx.session, ctx.principal.workspace_id)
    assists = await open_assignments(ctx)
    counts = Counter(x.assignee_id for x in assists)
    if args.member:
        try:
            member = await find_by_name(ctx.session, ctx.principal, args.member)
        except MemberNotFound as exc:
            return error_reply(str(exc))
        return await _member_workload(ctx, member, assists)
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


async def _member_workload(
    ctx: ToolContext, member: Member, assists: list[Any]
) -> list[Deliverable]:
    figures = await management_figures(ctx.session, ctx.principal.workspace_id, ctx.now)
    load = next(m for m in figures.members if m.member_id == member.id)
    urgent = sum(x.priority in ("urgent", "high") for x in assists if x.assignee_id == member.id)
    days = WINDOW.days
    resolution = (
        f"{duration(load.avg_resolution_seconds)} on average over {load.closed} closed"
        if load.avg_resolution_seconds is not None
        else "nothing closed"
    )
    csat = (
        f"{load.csat:.1f}/5 from {load.ratings} rating(s)"
        if load.csat is not None
        else "no ratings"
    )
    fields = (
        CardField(label="Open assists", value=f"{load.open_assists} ({urgent} high or urgent)"),
        CardField(label=f"Resolution, last {days} days", value=resolution),
        CardField(label=f"CSAT, last {days} days", value=csat),
        CardField(label="Availability", value=load.availability),
        CardField(
            label="High load",
            value=f"yes (team average {figures.team_average_open:.1f} open)"
            if load.high_load
            else f"no (team average {figures.team_average_open:.1f} open)",
        ),
    )
    text = f"{member.name}'s workload:\n" + "\n".join(f"- {f.label}: {f.value}" for f in fields)
    if load.high_load:
        text += f"\n({HIGH_LOAD_RULE}.) Next step: hand some of them to someone lighter."
    return [Deliverable(kind="card", title=f"Workload: {member.name}", text=text, fields=fields)]


async def get_queue_health(ctx: ToolContext, args: BaseModel) -> list[Deliverable]:
    assert isinstance(args, a.GetQueueHealthArgs)
    ws = ctx.principal.workspace_id
    queue = await queue_health(ctx.session, ws, ctx.now)
    oldest = (
        age_text(timedelta(seconds=queue.oldest_unassigned_age_seconds))
        if queue.oldest_unassigned_age_seconds is not None
        else "—"
    )
    trend = " → ".join(str(n) for n in queue.backlog_7d)
    fields = (
        CardField(label="Unassigned open assists", value=str(queue.unassigned)),
        CardField(label="Oldest unassigned waiting", value=oldest),
        CardField(label="Backlog, last 7 days (not closed, daily)", value=trend),
    )
    text = "Queue health:\n" + "\n".join(f"- {f.label}: {f.value}" for f in fields)
    if queue.unassigned:
        rows = list(
            await ctx.session.execute(
                select(*_ASSIST_LINE_COLUMNS)
                .where(
                    Assist.workspace_id == ws,
                    Assist.status.in_(OPEN_STATUSES),
                    Assist.assignee_id.is_(None),
                )
                .order_by(Assist.created_at)
                .limit(5)
            )
        )
        text += "\nWaiting longest:\n" + "\n".join(f"- {assist_line(x, {})}" for x in rows)
        text += "\nNext step: assign them (say 'assign A-… to <name>')."
    else:
        text += "\nNothing waits unassigned."
    # The console's Management view exists on Enterprise only.
    url = ctx.links.console("management") if ctx.principal.plan == "enterprise" else None
    if url:
        text += f"\nThe Management view in the console: {url}"
    return [Deliverable(kind="card", title="Queue health", text=text, fields=fields)]


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
    inbox_now = await inbox_performance(ctx, current, previous, member.id if member else None)
    lines, advice = inbox_now.lines, inbox_now.advice
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
                "current": inbox_now.current.as_row(),
                "previous": inbox_now.previous.as_row(),
                "open_now": len(inbox_now.open_now),
                "suggestion": advice,
            },
        )
    ]


def status_text(x: Any, tz: str) -> str:
    """X's status; a snoozed one says until when, in time zone TZ."""
    if x.status == "snoozed" and x.snoozed_until is not None:
        return f"snoozed until {x.snoozed_until.astimezone(zone(tz)):%a %d %b, %H:%M}"
    return str(x.status)


def assist_line(x: Any, names: dict[str, str], tz: str = "UTC") -> str:
    """One line for an assist (an Assist, or a row of `_ASSIST_LINE_COLUMNS`)."""
    who = names.get(x.assignee_id or "", "unassigned")
    subject = x.subject or x.summary[:60]
    return f"A-{x.number} [{x.priority}] {status_text(x, tz)} — {subject} ({who})"


# What a list of assists shows: plain rows, not whole assists (whose transcripts and details
# would each be parsed from JSON).
_ASSIST_LINE_COLUMNS = (
    Assist.number,
    Assist.status,
    Assist.snoozed_until,
    Assist.priority,
    Assist.subject,
    Assist.summary,
    Assist.assignee_id,
    Assist.created_at,
)


async def list_assists(ctx: ToolContext, args: BaseModel) -> list[Deliverable]:
    assert isinstance(args, a.ListAssistsArgs)
    assignee_id = None
    if args.assignee:
        try:
            assignee_id = (await find_by_name(ctx.session, ctx.principal, args.assignee)).id
        except MemberNotFound as exc:
            return error_reply(str(exc))
    flt = InboxFilter(
        status=args.status,
        priority=args.priority,
        category=args.category,
        label=args.label,
        assignee_id=assignee_id,
        unassigned=bool(args.unassigned),
        created_before=(
            ctx.now - timedelta(days=args.older_than_days)
            if args.older_than_days is not None
            else None
        ),
    )
    query = inbox_query(ctx.principal.workspace_id, flt, _ASSIST_LINE_COLUMNS, order=None)
    rows = await select_rows(ctx.session, query)
    rows.sort(key=lambda x: (PRIORITY_ORDER.get(x.priority, 9), x.created_at))
    names = await active_member_names(ctx.session, ctx.principal.workspace_id)
    shown = rows[: args.limit or 20]
    if not shown:
        return [Deliverable(text="No assists match.")]
    items = tuple(assist_line(x, names, ctx.principal.timezone) for x in shown)
    more = f"\n… and {len(rows) - len(shown)} more." if len(rows) > len(shown) else ""
    text = f"{len(rows)} assist(s):\n" + "\n".join(f"- {i}" for i in items) + more
    inbox_url = ctx.links.inbox()
    if inbox_url:
        text += f"\nOpen the inbox in the console: {inbox_url}"
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
    fields: tuple[CardField, ...] = (
        CardField(label="Status", value=status_text(x, ctx.principal.timezone)),
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
    url = ctx.links.assist(x.ref)
    if url:
        text += f"\nOpen it in the console: {url}"
        fields += (CardField(label="Link", value=url),)
    return [Deliverable(kind="card", title=x.ref, text=text, fields=fields)]


HANDLERS = {
    "get_agent_workload": get_agent_workload,
    "get_queue_health": get_queue_health,
    "get_inbox_performance": get_inbox_performance,
    "list_assists": list_assists,
    "show_assist": show_assist,
}
