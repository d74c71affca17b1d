"""AI Inbox write tools: assign, close, prioritise, note and reply to assists, one or in bulk."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select

from core.approvals.proposals import AT_EXECUTION, CREATE, Change, Draft, Message
from core.assists import snooze, team_actions
from core.assists.drafting import refine, regenerated_reply
from core.assists.inbox import InboxFilter, inbox_query
from core.assists.mail import customer_email
from core.schedules import moments
from core.schedules.timing import zone
from core.team.members import MemberNotFound, active_members, find_by_name
from core.tools import args as a
from core.tools.reads.inbox import load_assist
from core.tools.registry import ToolContext, error_reply
from models.deliverable import Deliverable
from storage.domain import Assist, AssistEvent
from storage.models import Member

BULK_LIMIT = 5000


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


async def _names(ctx: ToolContext) -> dict[str | None, str]:
    members = await active_members(ctx.session, ctx.principal.workspace_id)
    names: dict[str | None, str] = {m.id: m.name for m in members}
    names[None] = "unassigned"
    return names


def _field(assist: Assist, name: str, after: Any, shown: tuple[str, str] | None = None) -> Change:
    return Change(
        entity="assist",
        key=assist.id,
        field=name,
        before=_iso(getattr(assist, name)),
        after=after,
        label=f"{assist.ref} {name.replace('_id', '').replace('_', ' ')}",
        shown_before=shown[0] if shown else None,
        shown_after=shown[1] if shown else None,
    )


def _planned(assist: Assist, changes: dict[str, Any]) -> list[Change]:
    """The team action's CHANGES as a proposal's: NOW becomes the moment of approval."""
    return [
        _field(assist, name, AT_EXECUTION, ("—", "now"))
        if value == team_actions.NOW
        else _field(assist, name, value)
        for name, value in changes.items()
    ]


def _unsnoozed(assist: Assist) -> list[Change]:
    """A status change ends a snooze: its time goes too."""
    return [] if assist.snoozed_until is None else [_field(assist, "snoozed_until", None)]


async def assign_assist(ctx: ToolContext, args: BaseModel) -> list[Deliverable] | Draft:
    assert isinstance(args, a.AssignAssistArgs)
    assist = await load_assist(ctx, args.assist)
    if assist is None:
        return error_reply(f"There is no assist {args.assist}.")
    try:
        member = await find_by_name(ctx.session, ctx.principal, args.member)
    except MemberNotFound as exc:
        return error_reply(str(exc))
    names = await _names(ctx)
    if assist.assignee_id == member.id:
        return [Deliverable(text=f"{assist.ref} is already assigned to {member.name}.")]
    change = _field(
        assist, "assignee_id", member.id, (names.get(assist.assignee_id, "?"), member.name)
    )
    return Draft(
        tool="assign_assist", summary=f"assign {assist.ref} to {member.name}", changes=(change,)
    )


async def close_assist(ctx: ToolContext, args: BaseModel) -> list[Deliverable] | Draft:
    assert isinstance(args, a.CloseAssistArgs)
    assist = await load_assist(ctx, args.assist)
    if assist is None:
        return error_reply(f"There is no assist {args.assist}.")
    if assist.status == "closed":
        return [Deliverable(text=f"{assist.ref} is already closed.")]
    changes = _planned(assist, await team_actions.close_changes(ctx.session, assist, args.reason))
    changes.extend(_unsnoozed(assist))
    replied = await ctx.session.scalar(
        select(AssistEvent.id)
        .where(AssistEvent.assist_id == assist.id, AssistEvent.kind == "reply")
        .limit(1)
    )
    offer = None
    if replied is not None:
        offer = (
            f"Once it is closed, its resolution can become training data for the AI agent: "
            f"say 'promote {assist.ref} to training'."
        )
    return Draft(
        tool="close_assist",
        summary=f"close {assist.ref}",
        changes=tuple(changes),
        notice=offer,
        closes=(assist.id,),
    )


async def set_assist_priority(ctx: ToolContext, args: BaseModel) -> list[Deliverable] | Draft:
    assert isinstance(args, a.SetAssistPriorityArgs)
    assist = await load_assist(ctx, args.assist)
    if assist is None:
        return error_reply(f"There is no assist {args.assist}.")
    if assist.priority == args.priority:
        return [Deliverable(text=f"{assist.ref} is already {args.priority} priority.")]
    return Draft(
        tool="set_assist_priority",
        summary=f"set {assist.ref} to {args.priority} priority",
        changes=(_field(assist, "priority", args.priority),),
    )


async def snooze_assist(ctx: ToolContext, args: BaseModel) -> list[Deliverable] | Draft:
    """A proposal to snooze one assist until a time the requester names in their time zone."""
    assert isinstance(args, a.SnoozeAssistArgs)
    assist = await load_assist(ctx, args.assist)
    if assist is None:
        return error_reply(f"There is no assist {args.assist}.")
    tz = ctx.principal.timezone
    try:
        until = snooze.check_snooze(assist, moments.resolve(args.until, ctx.now, tz), ctx.now)
    except ValueError as exc:  # SnoozeError too
        return error_reply(f"Can't snooze {assist.ref}: {exc}.")
    shown = until.astimezone(zone(tz)).strftime("%a %d %b %Y, %H:%M")
    was = assist.snoozed_until
    before = was.astimezone(zone(tz)).strftime("%a %d %b %Y, %H:%M") if was else "—"
    changes = snooze.snooze_changes(until)
    return Draft(
        tool="snooze_assist",
        summary=f"snooze {assist.ref} until {shown} ({tz})",
        changes=(
            _field(assist, "status", changes["status"]),
            _field(assist, "snoozed_until", until.isoformat(), (before, f"{shown} ({tz})")),
        ),
        notice=f"{assist.ref} reopens by itself then, or as soon as the customer replies.",
    )


def _event(ctx: ToolContext, assist: Assist, kind: str, body: str) -> Change:
    row = team_actions.event_row(
        assist, kind, author=ctx.principal.name, body=body, created_at=AT_EXECUTION
    )
    return Change(
        entity="assist_event",
        key=row["id"],
        field=CREATE,
        before=None,
        after=row,
        label=f"{assist.ref} {'internal note' if kind == 'note' else 'reply to customer'}",
        shown_after=body if len(body) <= 120 else body[:117] + "...",
    )


async def add_internal_note(ctx: ToolContext, args: BaseModel) -> list[Deliverable] | Draft:
    assert isinstance(args, a.AddInternalNoteArgs)
    assist = await load_assist(ctx, args.assist)
    if assist is None:
        return error_reply(f"There is no assist {args.assist}.")
    return Draft(
        tool="add_internal_note",
        summary=f"add an internal note to {assist.ref}",
        changes=(_event(ctx, assist, "note", args.note),),
    )


async def reply_to_assist(ctx: ToolContext, args: BaseModel) -> list[Deliverable] | Draft:
    """The member's message, or the assist's suggested reply (refined when asked), emailed to
    the customer on approval; a refined suggestion is kept as the assist's new suggestion."""
    assert isinstance(args, a.ReplyToAssistArgs)
    assist = await load_assist(ctx, args.assist)
    if assist is None:
        return error_reply(f"There is no assist {args.assist}.")
    email = await customer_email(ctx.session, assist)
    if not email:
        return error_reply(f"{assist.ref} has no customer email to reply to.")
    text = args.message or (assist.suggested_reply or "").strip()
    if not text:
        return error_reply(f"{assist.ref} has no suggested reply; say what to send.")
    changes: list[Change] = []
    if args.refine:
        identity = ctx.mailer.identity if ctx.mailer is not None else None
        team = team_actions.team_name(identity, ctx.principal.workspace_name)
        text, _ = await refine(
            text,
            args.refine,
            context=team_actions.conversation_text(assist),
            regenerated=regenerated_reply(assist, team, current=text),
            llm=ctx.llm,
        )
        if not args.message and text != assist.suggested_reply:
            changes.append(_field(assist, "suggested_reply", text))
    changes.append(_event(ctx, assist, "reply", text))
    changes += _planned(assist, team_actions.reply_changes(assist))
    what = "the suggested reply" if not args.message else "a reply"
    return Draft(
        tool="reply_to_assist",
        summary=f"email {what} to the customer of {assist.ref} ({email})",
        changes=tuple(changes),
        messages=(
            Message(
                channel="email",
                address=email,
                text=text,
                subject=f"Re: {assist.subject or 'your request'} [{assist.ref}]",
                assist_id=assist.id,
            ),
        ),
        notice="The reply is emailed to the customer on approval and cannot be undone. "
        f"It reads:\n{text}",
    )


async def _matching(ctx: ToolContext, flt: a.AssistFilter) -> list[Assist] | str:
    assignee_id = None
    if flt.assignee:
        try:
            assignee_id = (await find_by_name(ctx.session, ctx.principal, flt.assignee)).id
        except MemberNotFound as exc:
            return str(exc)
    query = inbox_query(
        ctx.principal.workspace_id,
        InboxFilter(
            status=flt.status,
            priority=flt.priority,
            category=flt.category,
            label=flt.label,
            assignee_id=assignee_id,
            unassigned=bool(flt.unassigned),
            created_before=(
                ctx.now - timedelta(days=flt.older_than_days)
                if flt.older_than_days is not None
                else None
            ),
            numbers=tuple(int(ref.split("-", 1)[1]) for ref in flt.assists or ()),
        ),
        order="number",
    )
    return list(await ctx.session.scalars(query.limit(BULK_LIMIT + 1)))


async def bulk_update_assists(ctx: ToolContext, args: BaseModel) -> list[Deliverable] | Draft:
    assert isinstance(args, a.BulkUpdateAssistsArgs)
    found = await _matching(ctx, args.filter)
    if isinstance(found, str):
        return error_reply(found)
    if len(found) > BULK_LIMIT:
        return error_reply(f"That matches more than {BULK_LIMIT} assists; narrow the filter.")
    wanted: dict[str, Any] = {}
    assignee: Member | None = None
    if args.action == "close":
        wanted["status"] = "closed"
    elif args.action == "reopen":
        wanted["status"] = "open"
    if args.set.status:
        wanted["status"] = args.set.status
    if args.set.priority:
        wanted["priority"] = args.set.priority
    if args.set.assignee:
        try:
            assignee = await find_by_name(ctx.session, ctx.principal, args.set.assignee)
        except MemberNotFound as exc:
            return error_reply(str(exc))
        wanted["assignee_id"] = assignee.id
    if not wanted and not args.set.add_label:
        return error_reply(
            "What should change on those assists (close, priority, assignee, label)?"
        )
    names = await _names(ctx)
    changes: list[Change] = []
    touched = 0
    for assist in found:
        before = len(changes)
        for name, value in wanted.items():
            if getattr(assist, name) == value:
                continue
            shown = (
                (names.get(assist.assignee_id, "?"), names.get(value, "?"))
                if name == "assignee_id"
                else None
            )
            if name == "status" and value == "closed":
                changes.extend(_planned(assist, team_actions.closing_changes()))
            else:
                changes.append(_field(assist, name, value, shown))
            if name == "status":
                changes.extend(_unsnoozed(assist))
        if args.set.add_label and args.set.add_label not in assist.labels:
            changes.append(_field(assist, "labels", [*assist.labels, args.set.add_label]))
        touched += len(changes) > before
    if not touched:
        return [
            Deliverable(text=f"Nothing to change: {len(found)} assist(s) match and none differ.")
        ]
    what = ", ".join(
        f"{k.replace('_id', '')} → {names.get(v, v) if k == 'assignee_id' else v}"
        for k, v in wanted.items()
    )
    if args.set.add_label:
        what = ", ".join(filter(None, [what, f"label +{args.set.add_label}"]))
    return Draft(
        tool="bulk_update_assists",
        summary=f"{args.action.replace('_', ' ')} {touched} assist(s): {what}",
        changes=tuple(changes),
        estimated_count=touched,
    )


HANDLERS = {
    "assign_assist": assign_assist,
    "close_assist": close_assist,
    "set_assist_priority": set_assist_priority,
    "snooze_assist": snooze_assist,
    "add_internal_note": add_internal_note,
    "reply_to_assist": reply_to_assist,
    "bulk_update_assists": bulk_update_assists,
}
