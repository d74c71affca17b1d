"""What the outbox writes per reply, and in how many transactions: on PostgreSQL a part's
receipt and the row's progress, the last receipt and the row's end, and a put-back are each one
statement the server commits as it runs it (no BEGIN, no COMMIT), and a receipt that cannot be
written leaves the row as it was; on SQLite the same rows, in the driver's transaction."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from config.metrics import Metrics
from delivery.outbox import claims
from delivery.outbox.claims import PutBack, claim_due
from delivery.outbox.queue import enqueue
from delivery.outbox.receipts import RECEIPTS, SentRecorder, record_part
from delivery.outbox.worker import OutboxWorker
from delivery.ratelimit import RateLimiter, Rule
from models.deliverable import Deliverable, Receipt
from models.task import Route
from storage.db import Database
from storage.models import DeliveryReceipt, OutboxRow
from storage.types import new_id, utcnow
from tests.delivery.test_outbox_parts import PartedSender, _seed
from tests.helpers import DriverStatements, driver_statements


@pytest.fixture
def sent(db: Database, monkeypatch: pytest.MonkeyPatch) -> DriverStatements:
    return driver_statements(monkeypatch) if db.is_postgres else DriverStatements()


def _outbox_writes(sent: DriverStatements) -> list[tuple[str, bool, str]]:
    return [s for s in sent.matching("UPDATE outbox") if "RETURNING" not in s[0]]


def _worker(db: Database, sender: object, limiter: RateLimiter | None = None) -> OutboxWorker:
    return OutboxWorker(
        db,
        {"sms": sender},  # type: ignore[dict-item]
        node_id="n1",
        metrics=Metrics(),
        rng=random.Random(3),
        limiter=limiter or RateLimiter({}),
        max_wait=0.5,
    )


async def _receipts(db: Database) -> list[tuple[str, int, str, str]]:
    async with db.session() as session:
        rows = await session.scalars(select(DeliveryReceipt).order_by(DeliveryReceipt.part))
        return [(r.outbox_id, r.part, r.provider_message_id, r.channel) for r in rows]


async def _row(db: Database, row_id: str) -> OutboxRow:
    async with db.session() as session:
        row = await session.get(OutboxRow, row_id)
        assert row is not None
        return row


async def test_a_reply_of_three_parts_records_each_in_one_statement(
    db: Database, sent: DriverStatements
) -> None:
    _, (row_id,) = await _seed(db, "one two three")
    sender = PartedSender()

    assert await _worker(db, sender).drain() == 3

    row = await _row(db, row_id)
    assert (row.status, row.parts_sent, row.attempts, row.in_doubt) == ("sent", 3, 1, False)
    assert row.provider_message_id == "m3" and row.sent_at is not None
    assert await _receipts(db) == [
        (row_id, 0, "m1", "sms"),
        (row_id, 1, "m2", "sms"),
        (row_id, 2, "m3", "sms"),
    ]
    if db.is_postgres:
        writes = _outbox_writes(sent)
        # Two parts' progress, then the end: each with its receipt, outside any transaction.
        assert [sql.startswith("WITH receipt AS") for sql, _, _ in writes] == [True] * 3
        assert [(in_transaction, level) for _, in_transaction, level in writes] == [
            (False, "autocommit")
        ] * 3
        assert not any(
            sql.startswith("INSERT INTO delivery_receipts") for sql, _, _ in sent.statements
        )


async def test_a_receipt_that_cannot_be_written_leaves_the_row_as_it_was(db: Database) -> None:
    """The receipt and the row's record are one: a part already holding a receipt (what a
    unique part number forbids twice) fails both, on either database."""
    _, (row_id,) = await _seed(db, "one two")
    (reply,) = await claim_due(db, node_id="n1", lease=timedelta(minutes=1), limit=5)
    async with db.session() as session:
        for part in (0, 1):
            await session.execute(
                insert(RECEIPTS).values(
                    id=new_id(),
                    workspace_id=reply.workspace_id,
                    outbox_id=row_id,
                    part=part,
                    channel="sms",
                    provider_message_id=f"earlier{part}",
                    status="sent",
                )
            )

    with pytest.raises(IntegrityError):
        await record_part(db, reply, 0, Receipt(provider_message_id="m1"))
    row = await _row(db, row_id)
    assert (row.status, row.parts_sent) == ("sending", 0)

    with pytest.raises(IntegrityError):
        await SentRecorder(db, Metrics()).record(reply, Receipt(provider_message_id="m2"), 2)
    row = await _row(db, row_id)
    assert (row.status, row.parts_sent, row.sent_at) == ("sending", 0, None)
    assert sorted(r[2] for r in await _receipts(db)) == ["earlier0", "earlier1"]

    # Without a provider id there is no receipt to write: the row's end alone.
    await SentRecorder(db, Metrics()).record(reply, Receipt(provider_message_id=None), 2)
    row = await _row(db, row_id)
    assert (row.status, row.parts_sent, row.provider_message_id) == ("sent", 2, None)


async def test_rows_put_back_wait_for_their_slot(db: Database, sent: DriverStatements) -> None:
    """A reply whose conversation is busy goes back with its slot's time, no attempt counted:
    one row alone in one statement outside any transaction (PostgreSQL), several together."""
    workspace_id, (first, second) = await _seed(db, "hello", "again")
    before = utcnow()
    assert await _worker(db, PartedSender(), RateLimiter({"chat": Rule.per(1, 30.0)})).drain() == 1

    rows = {row_id: await _row(db, row_id) for row_id in (first, second)}
    assert rows[first].status == "sent"
    waiting = rows[second]
    assert (waiting.status, waiting.attempts, waiting.lease_until) == ("pending", 0, None)
    assert (
        before + timedelta(seconds=20) < waiting.next_attempt_at < utcnow() + timedelta(seconds=31)
    )
    if db.is_postgres:
        (put_back,) = [w for w in _outbox_writes(sent) if "next_attempt_at" in w[0]]
        assert put_back[1:] == (False, "autocommit")

    # Several at once: one executemany in one transaction, each row its own values.
    async with db.session() as session:
        more = enqueue(
            session,
            workspace_id=workspace_id,
            route=Route(channel="sms", address="+15550002222"),
            deliverables=[Deliverable(text=text) for text in ("a", "b", "c")],
            dedupe_prefix="more",
        )
    taken = await claim_due(db, node_id="n1", lease=timedelta(minutes=1), limit=10, ids=more)
    due = utcnow() + timedelta(minutes=5)
    await claims.put_back(
        db,
        [PutBack(reply.id, n, n == 1, due + timedelta(seconds=n)) for n, reply in enumerate(taken)],
    )
    for n, reply in enumerate(taken):
        row = await _row(db, reply.id)
        assert (row.status, row.parts_sent, row.in_doubt, row.lease_until) == (
            "pending",
            n,
            n == 1,
            None,
        )
        assert row.next_attempt_at == due + timedelta(seconds=n)
