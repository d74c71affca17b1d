"""The send_broadcast write tool: one email to an audience of customers, on approval."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from sqlalchemy import or_, select

from core.approvals.proposals import Draft, Message
from core.tools import args as a
from core.tools.registry import ToolContext, error_reply
from core.tools.writes.drafting import short
from models.deliverable import Deliverable
from storage.domain import Conversation, Customer

BROADCAST_LIMIT = 1000


async def _audience(ctx: ToolContext, audience: str) -> list[str]:
    """Distinct customer emails of AUDIENCE, in a stable order."""
    query = select(Customer.email).where(
        Customer.workspace_id == ctx.principal.workspace_id,
        Customer.email.is_not(None),
        Customer.email != "",
    )
    if audience != "all_customers":
        talked = select(Conversation.customer_id).where(
            Conversation.workspace_id == ctx.principal.workspace_id
        )
        if audience == "active_conversations":
            since = ctx.now - timedelta(hours=24)
            talked = talked.where(
                or_(Conversation.started_at >= since, Conversation.ended_at >= since)
            )
        else:  # website_visitors: customers who talked to the agent on the website
            talked = talked.where(Conversation.channel == "web")
        query = query.where(Customer.id.in_(talked))
    emails = {str(e).lower() for e in await ctx.session.scalars(query)}
    return sorted(emails)


async def send_broadcast(ctx: ToolContext, args: BaseModel) -> list[Deliverable] | Draft:
    assert isinstance(args, a.SendBroadcastArgs)
    if args.channel not in (None, "email"):
        return error_reply(
            "Broadcasts go by email only: SMS, WhatsApp and the other channels need each "
            "customer's consent to bulk messages, which is not recorded here."
        )
    audience = args.audience or "all_customers"
    recipients = await _audience(ctx, audience)
    shown = audience.replace("_", " ")
    if not recipients:
        return error_reply(f"No customers with an email address match {shown}.")
    if len(recipients) > BROADCAST_LIMIT:
        return error_reply(
            f"That would email {len(recipients)} customers ({shown}); one broadcast reaches at "
            f"most {BROADCAST_LIMIT}. Choose a narrower audience, such as active conversations."
        )
    subject = f"A message from {ctx.principal.workspace_name}"
    return Draft(
        tool="send_broadcast",
        summary=f"email {len(recipients)} customer(s) ({shown})",
        changes=(),
        estimated_count=len(recipients),
        reversible=False,
        messages=tuple(
            Message(channel="email", address=email, text=args.message, subject=subject)
            for email in recipients
        ),
        notice=(
            f'"{short(args.message, 200)}" is emailed to {len(recipients)} customer(s) on '
            "approval. A broadcast cannot be undone."
        ),
    )


HANDLERS = {
    "send_broadcast": send_broadcast,
}
