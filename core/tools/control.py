"""Control tools: approve or reject a proposal, undo the last write. No proposal of their own."""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import select

from core.approvals.proposals import (
    CREATE,
    ProposalError,
    decide,
    find_pending,
    proposal_payload,
    undo_last,
)
from core.schedules import follow_ups
from core.tools import learning
from core.tools.args import ApproveProposalArgs, RejectProposalArgs, SendToArgs
from core.tools.registry import ToolContext
from delivery.outbox.queue import enqueue
from models.deliverable import Deliverable
from models.task import Route
from storage.domain import Proposal
from storage.models import ChannelIdentity, OutboxRow, TaskRow


async def approve_proposal(ctx: ToolContext, args: BaseModel) -> list[Deliverable]:
    assert isinstance(args, ApproveProposalArgs)
    return await _decide(ctx, args.code, approve=True)


async def reject_proposal(ctx: ToolContext, args: BaseModel) -> list[Deliverable]:
    assert isinstance(args, RejectProposalArgs)
    return await _decide(ctx, args.code, approve=False)


async def decide_by_id(ctx: ToolContext, proposal_id: str, *, approve: bool) -> list[Deliverable]:
    """A button press (Slack, Telegram): the proposal is named by id, not by a typed code."""
    proposal = await ctx.session.get(Proposal, proposal_id)
    if proposal is None or proposal.workspace_id != ctx.principal.workspace_id:
        return [Deliverable(kind="error", text="That proposal no longer exists.")]
    return await _decide(ctx, None, approve=approve, proposal=proposal)


async def _decide(
    ctx: ToolContext, code: str | None, *, approve: bool, proposal: Proposal | None = None
) -> list[Deliverable]:
    try:
        if proposal is None:
            proposal = await find_pending(ctx.session, ctx.principal, code, now=ctx.now)
        decision = await decide(
            ctx.session, ctx.principal, proposal, approve=approve, now=ctx.now, mailer=ctx.mailer
        )
    except ProposalError as exc:
        return [Deliverable(kind="error", text=str(exc))]
    lines = [decision.message]
    for change in decision.applied[:20]:
        if change.field == CREATE:
            shown = change.shown_after or ("created" if change.after is not None else "removed")
        else:
            shown = change.shown_after if change.shown_after is not None else str(change.after)
        lines.append(f"- {change.label}: {shown}")
    if decision.executed and decision.reversible:
        lines.append('Say "undo" within 30 seconds to revert.')
    replies = [
        Deliverable(
            kind="text",
            text="\n".join(lines),
            data={"proposal": proposal_payload(decision.proposal)},
        )
    ]
    if decision.executed:
        extras = await follow_ups.after_training_change(ctx, decision.proposal)
        extras += await learning.offer_for_proposal(ctx, decision.proposal)
        # One reply per decision: the follow-up note and the offer are its last lines.
        for extra in extras:
            replies[0] = replies[0].model_copy(
                update={
                    "text": f"{replies[0].text}\n{extra.text}",
                    "data": {**replies[0].data, **extra.data},
                }
            )
    return replies


async def undo(ctx: ToolContext, _args: BaseModel) -> list[Deliverable]:
    try:
        message = await undo_last(ctx.session, ctx.principal, now=ctx.now, mailer=ctx.mailer)
    except ProposalError as exc:
        return [Deliverable(kind="error", text=str(exc))]
    return [Deliverable(text=message)]


PHONE = ("sms", "whatsapp", "voice")


def _guess_channel(address: str) -> str:
    if "@" in address:
        return "email"
    if address.startswith("whatsapp:"):
        return "whatsapp"
    if address.startswith("+"):
        return "sms"
    return "slack" if address[:1] in ("U", "W", "C") else "telegram"


async def send_to(ctx: ToolContext, args: BaseModel) -> list[Deliverable]:
    """Push the member's previous result to another channel or address of the team."""
    assert isinstance(args, SendToArgs)
    previous = await ctx.session.scalar(
        select(TaskRow)
        .where(
            TaskRow.workspace_id == ctx.principal.workspace_id,
            TaskRow.member_id == ctx.principal.member_id,
            TaskRow.status == "done",
            TaskRow.id != ctx.task.id,
        )
        .order_by(TaskRow.finished_at.desc())
        .limit(1)
    )
    replies = (
        list(
            await ctx.session.scalars(
                select(OutboxRow).where(OutboxRow.task_id == previous.id).order_by(OutboxRow.seq)
            )
        )
        if previous is not None
        else []
    )
    if not replies:
        return [Deliverable(kind="error", text="There is no earlier result of yours to send.")]
    channel = args.channel or _guess_channel(args.address or "")
    identities = list(
        await ctx.session.scalars(
            select(ChannelIdentity).where(
                ChannelIdentity.workspace_id == ctx.principal.workspace_id,
                ChannelIdentity.channel.in_(PHONE if channel in PHONE else (channel,)),
            )
        )
    )
    if args.address:
        wanted = args.address.removeprefix("whatsapp:").lower()
        match = [i for i in identities if i.address.lower() == wanted]
        if not match:
            # Results never leave the workspace for an address nobody on the team holds.
            return [
                Deliverable(
                    kind="error",
                    text=f"I can only send results to addresses linked to your team; "
                    f"{args.address} is not one of them.",
                )
            ]
        address = match[0].address
    else:
        mine = [i for i in identities if i.member_id == ctx.principal.member_id]
        if not mine:
            return [Deliverable(kind="error", text=f"You have no {channel} address linked to you.")]
        address = mine[0].address
    target = f"whatsapp:{address}" if channel == "whatsapp" else address
    enqueue(
        ctx.session,
        workspace_id=ctx.principal.workspace_id,
        task_id=None,
        route=Route(channel=channel, address=target),  # type: ignore[arg-type]
        deliverables=[Deliverable.model_validate(r.deliverable) for r in replies],
        dedupe_prefix=f"send_to:{ctx.task.id}",
    )
    return [Deliverable(text=f"Sent your previous result to {channel} ({address}).")]


HANDLERS = {
    "approve_proposal": approve_proposal,
    "reject_proposal": reject_proposal,
    "undo_last": undo,
    "send_to": send_to,
}
