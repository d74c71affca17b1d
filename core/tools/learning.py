"""Learning mode: after a report is run or a bulk action approved, offer to make it recurring."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select

from core.approvals.proposals import Draft
from core.reports.report import REPORT_TITLES
from core.schedules.cadence import Cadence, cadence_text
from core.tools.args import BulkUpdateAssistsArgs, RunReportArgs
from core.tools.registry import ToolContext
from core.tools.writes.schedules import draft_schedule
from models.classification import ToolCall
from models.deliverable import Deliverable
from storage.domain import Proposal, ScheduleOffer
from storage.models import Member, TaskRow

# Each action is offered once per member: the reply right after the offer decides it. "yes"
# drafts the schedule as a proposal, approved like any write; "no" is remembered, so that action
# is never offered to that member again.
YES = frozenset(
    {
        "yes",
        "y",
        "yes please",
        "yeah",
        "yep",
        "sure",
        "ok",
        "okay",
        "please do",
        "go ahead",
    }
)
NO = frozenset({"no", "n", "no thanks", "no thank you", "nope", "nah", "never", "not now"})
OFFER_TIME = "09:00"
# A report over a period that has just begun is scheduled over the one just ended.
_ENDED = {"today": "yesterday", "this_week": "last_week", "this_month": "last_month"}
_DAILY = {"today", "yesterday"}
_MONTHLY = {"this_month", "last_month", "last_30_days"}


def verdict(text: str) -> bool | None:
    """True for a plain yes, False for a plain no, None for anything else."""
    said = " ".join(re.sub(r"[^\w\s']", " ", text.casefold()).split())
    if said in YES:
        return True
    if said in NO:
        return False
    return None


def _report_plan(args: RunReportArgs) -> dict[str, Any]:
    period = args.period or "last_30_days"
    if period in _DAILY:
        cadence = Cadence("daily", [], None)
    elif period in _MONTHLY:
        cadence = Cadence("monthly", [], 1)
    else:
        cadence = Cadence("weekly", ["monday"], None)
    repeated = args.model_dump(exclude_none=True) | {"period": _ENDED.get(period, period)}
    title = REPORT_TITLES[args.report].lower()
    label = f"{title} ({args.format.upper()})" if args.format else title
    return _plan("report", "run_report", repeated, label, cadence)


def _which(args: BulkUpdateAssistsArgs) -> str:
    """The bulk filter in words: "low priority, open, older than 7 days"."""
    f = args.filter
    parts = [
        f"{f.priority} priority" if f.priority else "",
        f.status or "",
        f"in {f.category}" if f.category else "",
        f"labelled {f.label}" if f.label else "",
        "unassigned" if f.unassigned else "",
        f"assigned to {f.assignee}" if f.assignee else "",
        ", ".join(f.assists) if f.assists else "",
        f"older than {f.older_than_days} days" if f.older_than_days is not None else "",
    ]
    return ", ".join(p for p in parts if p) or "all"


def _bulk_plan(args: BulkUpdateAssistsArgs) -> dict[str, Any]:
    label = f"clean-up: {args.action.replace('_', ' ')} assists ({_which(args)})"
    cadence = Cadence("weekly", ["monday"], None)
    args_json = args.model_dump(mode="json", exclude_none=True)
    return _plan("bulk_action", "bulk_update_assists", args_json, label, cadence)


def _plan(
    kind: str, tool: str, args: dict[str, Any], label: str, cadence: Cadence
) -> dict[str, Any]:
    return {
        "kind": kind,
        "tool": tool,
        "args": args,
        "label": label,
        "frequency": cadence.frequency,
        "days": cadence.days,
        "day_of_month": cadence.day_of_month,
        "time": OFFER_TIME,
    }


def _may_schedule(ctx: ToolContext, tool: str) -> bool:
    """Whether the member may run TOOL and schedule briefings: only then is an offer made."""
    return all(
        (spec := ctx.registry.get(name)) is not None and spec.allows(ctx.principal)
        for name in (tool, "schedule_briefing")
    )


async def offers_for_calls(ctx: ToolContext, calls: Sequence[ToolCall]) -> list[Deliverable]:
    """After reads ran: the offer for a report, if one was run and never offered before."""
    for call in calls:
        if call.tool != "run_report" or not _may_schedule(ctx, call.tool):
            continue
        try:
            args = RunReportArgs.model_validate(call.args)
        except ValidationError:
            continue
        return await _offer(ctx, f"run_report:{args.report}", _report_plan(args))
    return []


async def offer_for_proposal(ctx: ToolContext, proposal: Proposal) -> list[Deliverable]:
    """After an approval executed PROPOSAL: the offer for its bulk action, if it had one."""
    if not _may_schedule(ctx, "bulk_update_assists"):
        return []
    for part in proposal.changes:
        if part.get("tool") != "bulk_update_assists" or not part.get("args"):
            continue
        try:
            args = BulkUpdateAssistsArgs.model_validate(part["args"])
        except ValidationError:
            continue
        return await _offer(ctx, f"bulk_update_assists:{args.action}", _bulk_plan(args))
    return []


async def _offer(ctx: ToolContext, action: str, plan: dict[str, Any]) -> list[Deliverable]:
    member_id = ctx.principal.member_id
    if member_id is None:
        return []
    known = await ctx.session.scalar(
        select(ScheduleOffer.id).where(
            ScheduleOffer.workspace_id == ctx.principal.workspace_id,
            ScheduleOffer.member_id == member_id,
            ScheduleOffer.action == action,
        )
    )
    if known is not None:  # offered once already: accepted, declined or left unanswered
        return []
    ctx.session.add(
        ScheduleOffer(
            workspace_id=ctx.principal.workspace_id,
            member_id=member_id,
            action=action,
            call=plan,
            status="offered",
            task_id=ctx.task.id,
            offered_at=ctx.now,
        )
    )
    member = await ctx.session.get(Member, member_id)
    tz = (member.timezone if member else None) or ctx.principal.timezone
    cadence = Cadence(plan["frequency"], plan["days"], plan["day_of_month"])
    when = cadence_text(cadence, plan["time"])
    return [
        Deliverable(
            text=f"Want the {plan['label']} {when} ({tz})? Reply yes and I'll set it up, "
            "or no and I won't ask again.",
            data={"offer": {"action": action, "label": plan["label"], "when": when}},
        )
    ]


async def answer(ctx: ToolContext) -> list[Deliverable] | Draft | None:
    """A yes or no right after an offer: the schedule's proposal (a Draft) or the refusal's
    acknowledgement. None when the message is not an answer to an open offer."""
    said = verdict(ctx.task.text)
    if said is None or not _may_schedule(ctx, "schedule_briefing"):
        return None
    offer = await _open_offer(ctx)
    if offer is None:
        return None
    plan = offer.call
    if not said:
        offer.status, offer.answered_at = "declined", ctx.now
        return [Deliverable(text=f"OK, I won't offer to schedule the {plan['label']} again.")]
    drafted = await draft_schedule(
        ctx,
        briefing_type=plan["kind"],
        frequency=plan["frequency"],
        days=plan["days"],
        day_of_month=plan["day_of_month"],
        at=plan["time"],
        params={"call": {"tool": plan["tool"], "args": plan["args"]}, "label": plan["label"]},
    )
    if isinstance(drafted, Draft):
        offer.status, offer.answered_at = "accepted", ctx.now
    return drafted


async def _open_offer(ctx: ToolContext) -> ScheduleOffer | None:
    """The member's offer still waiting, if their last finished request is the one that made
    it (an offer is answered by the very next message, or not at all)."""
    offer = await ctx.session.scalar(
        select(ScheduleOffer)
        .where(
            ScheduleOffer.workspace_id == ctx.principal.workspace_id,
            ScheduleOffer.member_id == ctx.principal.member_id,
            ScheduleOffer.status == "offered",
        )
        .order_by(ScheduleOffer.offered_at.desc())
        .limit(1)
    )
    if offer is None or offer.task_id is None:
        return None
    last = await ctx.session.scalar(
        select(TaskRow.id)
        .where(
            TaskRow.workspace_id == ctx.principal.workspace_id,
            TaskRow.member_id == ctx.principal.member_id,
            TaskRow.status == "done",
            TaskRow.channel != "schedule",  # a briefing arriving meanwhile is no answer
            TaskRow.id != ctx.task.id,
        )
        .order_by(TaskRow.finished_at.desc())
        .limit(1)
    )
    return offer if last == offer.task_id else None
