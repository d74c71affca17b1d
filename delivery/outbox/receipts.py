"""Recording what went out: a part's receipt at once, a finished row's in a group commit."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, update

from config.metrics import Metrics
from delivery.outbox.claims import OUTBOX, ClaimedReply
from models.deliverable import Receipt
from storage.db import Database
from storage.models import DeliveryReceipt
from storage.sqlite_driver import inline
from storage.statements import Statement
from storage.types import new_id, utcnow

RECEIPTS = DeliveryReceipt.metadata.tables[DeliveryReceipt.__tablename__]
# Every reply sent records its receipt: one INSERT compiled once and run by the driver, and
# the row's progress or its end, the same way.
_INSERT_RECEIPTS = Statement(insert(RECEIPTS))
_PART_SENT = Statement(
    update(OUTBOX)
    .where(OUTBOX.c.id == bindparam("row_id"))
    .values(parts_sent=bindparam("parts"), in_doubt=False)
)
_SENT = Statement(
    update(OUTBOX)
    .where(OUTBOX.c.id == bindparam("row_id"))
    .values(
        status="sent",
        attempts=bindparam("attempts"),
        sent_at=bindparam("at"),
        lease_until=None,
        last_error=None,
        provider_message_id=bindparam("message_id"),
        provider_status=bindparam("provider_status"),
        parts_sent=bindparam("parts"),
        in_doubt=False,
    )
)


def receipt_row(reply: ClaimedReply, part: int, receipt: Receipt) -> dict[str, Any] | None:
    if receipt.provider_message_id is None:
        return None
    now = utcnow()
    return {
        "id": new_id(),
        "workspace_id": reply.workspace_id,
        "outbox_id": reply.id,
        "part": part,
        "channel": reply.route.channel,
        "provider_message_id": receipt.provider_message_id,
        "status": receipt.status,
        "error_code": None,
        "created_at": now,
        "updated_at": now,
    }


async def record_part(db: Database, reply: ClaimedReply, index: int, receipt: Receipt) -> None:
    """One part went out: remember it before trying the next, so none is sent twice."""
    with inline():  # the statements and their commit
        async with db.write() as conn:
            await _PART_SENT.run(conn, {"row_id": reply.id, "parts": index + 1})
            row = receipt_row(reply, index, receipt)
            if row is not None:
                await _INSERT_RECEIPTS.run(conn, row)


@dataclass(eq=False)
class _Sent:
    """A row whose calls all went out, waiting for its record to be written."""

    reply: ClaimedReply
    receipt: Receipt
    parts_sent: int
    at: datetime
    done: asyncio.Future[None]


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.done():  # its call was cancelled (shutdown) while it waited
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)


class SentRecorder:
    """Marks rows sent, with their receipts. Rows sent while a previous write is under way
    are written together in the next transaction (group commit): under load one commit
    records many, and the database stays free for the work that makes the replies."""

    def __init__(self, db: Database, metrics: Metrics) -> None:
        self._db = db
        self._metrics = metrics
        self._sent: list[_Sent] = []  # rows sent, their record not yet written
        self._writer: asyncio.Task[None] | None = None

    async def record(self, reply: ClaimedReply, receipt: Receipt, parts_sent: int) -> None:
        """Mark the row sent once the next group commit is written; raises what it raised."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sent.append(_Sent(reply, receipt, parts_sent, utcnow(), done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        await done

    async def finish(self) -> None:
        """Wait for the write under way, if any (on shutdown)."""
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)

    async def _write(self) -> None:
        while self._sent:
            batch, self._sent = self._sent, []
            try:
                await self._mark_sent(batch)
            except Exception as exc:
                if len(batch) == 1:
                    _settle(batch[0].done, exc)
                    continue
                # One bad row must not cost the others their record (and a resend): alone.
                for sent in batch:
                    try:
                        await self._mark_sent([sent])
                    except Exception as alone:
                        _settle(sent.done, alone)
                    else:
                        _settle(sent.done, None)
            else:
                for sent in batch:
                    _settle(sent.done, None)

    async def _mark_sent(self, batch: list[_Sent]) -> None:
        with inline(len(batch)):  # the statements and their commit
            async with self._db.write() as conn:
                rows = [
                    row
                    for sent in batch
                    if (row := receipt_row(sent.reply, max(sent.parts_sent - 1, 0), sent.receipt))
                ]
                await _INSERT_RECEIPTS.run_many(conn, rows)
                await _SENT.run_many(
                    conn,
                    [
                        {
                            "row_id": sent.reply.id,
                            "attempts": sent.reply.attempts + 1,
                            "at": sent.at,
                            "message_id": sent.receipt.provider_message_id,
                            "provider_status": sent.receipt.status,
                            "parts": sent.parts_sent,
                        }
                        for sent in batch
                    ],
                )
        for sent in batch:
            self._metrics.outbox_sent.labels(sent.reply.route.channel, "sent").inc()
