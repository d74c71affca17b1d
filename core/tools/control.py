"""Control tools: approve or reject a proposal, undo the last write. No proposal of their own."""

from __future__ import annotations

from pydantic import BaseModel

from core.proposals import (
    CREATE,
    ProposalError,
    decide,
    find_pending,
    proposal_payload,
    undo_last,
)
from core.tools.args import ApproveProposalArgs, RejectProposalArgs
from core.tools.registry import ToolContext
from delivery.deliverable import Deliverable


async def approve_proposal(ctx: ToolContext, args: BaseModel) -> list[Deliverable]:
    assert isinstance(args, ApproveProposalArgs)
    return await _decide(ctx, args.code, approve=True)


async def reject_proposal(ctx: ToolContext, args: BaseModel) -> list[Deliverable]:
    assert isinstance(args, RejectProposalArgs)
    return await _decide(ctx, args.code, approve=False)


async def _decide(ctx: ToolContext, code: str | None, *, approve: bool) -> list[Deliverable]:
    try:
        proposal = await find_pending(ctx.session, ctx.principal, code, now=ctx.now)
        decision = await decide(ctx.session, ctx.principal, proposal, approve=approve, now=ctx.now)
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
    return [
        Deliverable(
            kind="text",
            text="\n".join(lines),
            data={"proposal": proposal_payload(decision.proposal)},
        )
    ]


async def undo(ctx: ToolContext, _args: BaseModel) -> list[Deliverable]:
    try:
        message = await undo_last(ctx.session, ctx.principal, now=ctx.now)
    except ProposalError as exc:
        return [Deliverable(kind="error", text=str(exc))]
    return [Deliverable(text=message)]


HANDLERS = {
    "approve_proposal": approve_proposal,
    "reject_proposal": reject_proposal,
    "undo_last": undo,
}
