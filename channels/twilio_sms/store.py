"""What the Twilio messaging channel reads and writes: opt-outs, keywords, delivery statuses,
the WhatsApp window and where a member can be reached instead. Functions take the session."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.task import ChannelName, Route
from storage.db import upsert_insert
from storage.models import ChannelIdentity, DeliveryReceipt, Member, OptOut, OutboxRow, TaskRow
from storage.types import new_id, utcnow

PHONE_CHANNELS = ("sms", "whatsapp", "voice")
MESSAGING_CHANNELS = ("sms", "whatsapp")

# Message statuses in the order Twilio moves through them; a callback never moves one back.
# (Callbacks arrive out of order: "sent" can land after "delivered".)
STATUS_RANK = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "canceled": 4,
    "partially_delivered": 4,
    "read": 5,
}


async def record_keyword(session: AsyncSession, values: dict[str, Any]) -> bool:
    """Store a STOP/START/HELP message as a finished task (no worker ever claims it), so a
    redelivery finds it; True when this is the first delivery of that message."""
    stmt = (
        upsert_insert(session)(TaskRow)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["workspace_id", "channel", "external_id"])
        .returning(TaskRow.id)
    )
    return (await session.execute(stmt)).scalar() is not None


async def opt_out(session: AsyncSession, workspace_id: str, channel: str, number: str) -> None:
    stmt = (
        upsert_insert(session)(OptOut)
        .values(
            id=new_id(),
            workspace_id=workspace_id,
            channel=channel,
            address=number,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["workspace_id", "channel", "address"])
    )
    await session.execute(stmt)


async def opt_in(session: AsyncSession, workspace_id: str, channel: str, number: str) -> None:
    await session.execute(
        delete(OptOut).where(
            OptOut.workspace_id == workspace_id,
            OptOut.channel == channel,
            OptOut.address == number,
        )
    )


async def is_opted_out(
    session: AsyncSession, channel: str, number: str, workspace_id: str | None
) -> bool:
    """Whether NUMBER said STOP on CHANNEL to that workspace. When the workspace is unknown
    (a sending number shared by several, not mapped to one) an opt-out in any of them counts:
    when in doubt, do not text someone who asked not to be texted."""
    query = select(OptOut.id).where(OptOut.channel == channel, OptOut.address == number)
    if workspace_id is not None:
        query = query.where(OptOut.workspace_id == workspace_id)
    return (await session.scalar(query.limit(1))) is not None


async def last_whatsapp_message(
    session: AsyncSession, number: str, our_number: str, workspace_id: str | None
) -> datetime | None:
    """When NUMBER last wrote on WhatsApp to OUR_NUMBER: the start of the 24-hour window,
    which WhatsApp keeps per pair of numbers."""
    query = select(func.max(TaskRow.received_at)).where(
        TaskRow.channel == "whatsapp",
        TaskRow.sender_address == number,
        TaskRow.conversation == f"whatsapp:{number}:whatsapp:{our_number}",
    )
    if workspace_id is not None:
        query = query.where(TaskRow.workspace_id == workspace_id)
    value: datetime | None = await session.scalar(query)  # max() keeps the column's UTC type
    return value


async def other_route(
    session: AsyncSession,
    number: str,
    workspace_id: str,
    *,
    usable: Sequence[str],
) -> Route | None:
    """Another channel on which the member of WORKSPACE_ID holding NUMBER can be reached.

    Their default channel first (if linked), then SMS to the same number, then Slack,
    Telegram, email; only channels in USABLE count (an SMS sender must exist, say).
    """
    query = (
        select(Member)
        .join(ChannelIdentity, ChannelIdentity.member_id == Member.id)
        .where(
            ChannelIdentity.workspace_id == workspace_id,
            ChannelIdentity.channel.in_(PHONE_CHANNELS),
            ChannelIdentity.address == number,
            Member.status == "active",
        )
    )
    member = await session.scalar(query.limit(1))
    if member is None:
        return None
    identities = {
        row.channel: row.address
        for row in await session.scalars(
            select(ChannelIdentity)
            .where(ChannelIdentity.member_id == member.id)
            .order_by(ChannelIdentity.created_at)
        )
    }
    addresses: dict[str, str] = {"sms": number}
    for channel in ("slack", "telegram", "email"):
        if channel in identities:
            addresses[channel] = identities[channel]
    if member.email and "email" not in addresses:
        addresses["email"] = member.email
    order = [
        channel
        for channel in (member.default_channel, "sms", "slack", "telegram", "email")
        if channel is not None
    ]
    for channel in order:
        if channel in addresses and channel in usable:
            if channel == "sms" and await is_opted_out(session, "sms", number, member.workspace_id):
                continue
            # `addresses` only holds channel names, so CHANNEL is one.
            return Route(channel=cast(ChannelName, channel), address=addresses[channel])
    return None


def _lower_than(status: str) -> list[str]:
    rank = STATUS_RANK[status]
    return [name for name, other in STATUS_RANK.items() if other < rank]


async def update_status(
    session: AsyncSession, sid: str, status: str, error_code: str | None
) -> DeliveryReceipt | None:
    """Apply a status callback to the receipt and outbox row of message SID, never moving a
    status backwards; returns the receipt (None for a message we do not know)."""
    receipt = await session.scalar(
        select(DeliveryReceipt).where(
            DeliveryReceipt.channel.in_(MESSAGING_CHANNELS),
            DeliveryReceipt.provider_message_id == sid,
        )
    )
    if receipt is None or status not in STATUS_RANK:
        return receipt
    lower = _lower_than(status)
    now = utcnow()
    values: dict[str, Any] = {"status": status, "updated_at": now}
    if error_code:
        values["error_code"] = error_code[:40]
    # One conditional UPDATE each: two callbacks racing cannot move a status back either.
    await session.execute(
        update(DeliveryReceipt)
        .where(DeliveryReceipt.id == receipt.id, DeliveryReceipt.status.in_(lower))
        .values(**values)
    )
    await session.execute(
        update(OutboxRow)
        .where(
            OutboxRow.id == receipt.outbox_id,
            OutboxRow.provider_message_id == sid,
            or_(OutboxRow.provider_status.is_(None), OutboxRow.provider_status.in_(lower)),
        )
        .values(provider_status=status)
    )
    return receipt
