"""Asking the provider whether a part in doubt already went out, before sending it again."""

from __future__ import annotations

import logging

from sqlalchemy import select

from config.metrics import Metrics
from delivery.outbox.claims import EPOCH
from delivery.outbox.lanes import Job
from delivery.senders import Confirms, Op
from models.deliverable import Receipt
from storage.db import Database
from storage.models import DeliveryReceipt

# The outbox's one logger, as before it became a package: log queries keep matching.
log = logging.getLogger("delivery.outbox")


async def confirm(db: Database, metrics: Metrics, job: Job, op: Op) -> Receipt | None:
    """Whether the provider already has OP's message, sent by a call this row's previous
    claim made and never recorded (its node died, or the call timed out): its receipt if
    so, and the call is not made again. None when the sender cannot tell (Telegram and
    e-mail have no way to look): the call is made again, which may repeat it."""
    sender, reply = job.sender, job.reply
    if not isinstance(sender, Confirms):
        return None
    found = await sender.find_sent(reply.route, op, reply.created_at or EPOCH)
    ids = [r.provider_message_id for r in found if r.provider_message_id]
    if not ids:
        return None
    # A message already recorded for another reply (the same words to the same person,
    # say) is not this one's.
    async with db.session() as session:
        known = set(
            (
                await session.execute(
                    select(DeliveryReceipt.provider_message_id).where(
                        DeliveryReceipt.channel == reply.route.channel,
                        DeliveryReceipt.provider_message_id.in_(ids),
                    )
                )
            ).scalars()
        )
    for receipt in found:
        if receipt.provider_message_id and receipt.provider_message_id not in known:
            log.warning(
                "reply part was already at the provider; recorded, not sent again",
                extra={
                    "outbox_id": reply.id,
                    "channel": reply.route.channel,
                    "part": job.parts_sent,
                },
            )
            metrics.outbox_sent.labels(reply.route.channel, "found").inc()
            return receipt
    return None
