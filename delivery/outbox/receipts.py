"""Recording what went out: a part's receipt at once, a finished row's in a group commit."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Update

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

# On PostgreSQL a row's one receipt and its progress or end are one statement (the receipt's
# INSERT in a WITH of the UPDATE, which the server runs as one), made as a transaction of its
# own: one round trip instead of four (BEGIN, INSERT, UPDATE, COMMIT). Its receipt's values
# are bound as `receipt_<column>`.
_RECEIPT_PREFIX = "receipt_"


def _with_receipt(outbox_update: Update) -> Statement:
    receipt = insert(RECEIPTS).values(
        {column.key: bindparam(_RECEIPT_PREFIX + column.key) for column in RECEIPTS.c}
    )
    return Statement(outbox_update.add_cte(receipt.cte("receipt")))


_PART_SENT_WITH_RECEIPT = _with_receipt(_PART_SENT.statement)
_SENT_WITH_RECEIPT = _with_receipt(_SENT.statement)


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
    progress = {"row_id": reply.id, "parts": index + 1}
    row = receipt_row(reply, index, receipt)
    with inline():  # the statements and their commit
        async with db.write() as conn:
            if not db.is_sqlite:
                await _alone(conn, _PART_SENT, _PART_SENT_WITH_RECEIPT, progress, row)
                return
            await _PART_SENT.run(conn, progress)
            if row is not None:
                await _INSERT_RECEIPTS.run(conn, row)


async def _alone(
    conn: AsyncConnection,
    update_alone: Statement,
    with_receipt: Statement,
    values: dict[str, Any],
    receipt: dict[str, Any] | None,
) -> None:
    """The outbox row's UPDATE with VALUES and its RECEIPT, if any, as one statement that is
    its transaction (PostgreSQL)."""
    if receipt is None:
        await update_alone.run_alone(conn, values)
        return
    for key, value in receipt.items():
        values[_RECEIPT_PREFIX + key] = value
    await with_receipt.run_alone(conn, values)


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
        receipts = [
            receipt_row(sent.reply, max(sent.parts_sent - 1, 0), sent.receipt) for sent in batch
        ]
        ends = [
            {
                "row_id": sent.reply.id,
                "attempts": sent.reply.attempts + 1,
                "at": sent.at,
                "message_id": sent.receipt.provider_message_id,
                "provider_status": sent.receipt.status,
                "parts": sent.parts_sent,
            }
            for sent in batch
        ]
        with inline(len(batch)):  # the statements and their commit
            async with self._db.write() as conn:
                if len(batch) == 1 and not self._db.is_sqlite:
                    await _alone(conn, _SENT, _SENT_WITH_RECEIPT, ends[0], receipts[0])
                else:
                    await _INSERT_RECEIPTS.run_many(conn, [r for r in receipts if r is not None])
                    await _SENT.run_many(conn, ends)
        for sent in batch:
            self._metrics.outbox_sent.labels(sent.reply.route.channel, "sent").inc()
