"""A task's replies are written already claimed by the node's outbox and handed to it after
the commit: no claim transaction of their own, nothing held twice, nothing lost."""

from __future__ import annotations

import random
import sqlite3
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from config.metrics import Metrics
from delivery.outbox.claims import Reservation
from delivery.outbox.worker import OutboxWorker
from delivery.senders import WholeSender
from models.deliverable import Deliverable, Receipt
from models.task import Route
from storage.db import Database
from storage.journal import TaskJournal
from storage.models import OutboxRow
from storage.types import utcnow
from tests.pipeline.test_pipeline import HelpClassifier, make_worker, seed, web_task


class RecordingSender(WholeSender):
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, route: Route, deliverable: Deliverable) -> Receipt:
        self.sent.append(deliverable.text)
        return Receipt(provider_message_id=f"msg-{len(self.sent)}")


def outbox(db: Database, sender: RecordingSender, node: str = "node-a", **kw: Any) -> OutboxWorker:
    return OutboxWorker(
        db, {"web": sender}, node_id=node, metrics=Metrics(), rng=random.Random(1), **kw
    )


async def journaled(db: Database, count: int = 1) -> list[str]:
    ws_id, member_id = await seed(db)
    journal = TaskJournal(db)
    await journal.start()
    ids = [(await journal.append(web_task(ws_id, member_id))).task_id for _ in range(count)]
    await journal.close()
    return ids


def claims_counted(db: Database) -> list[str]:
    """The outbox claims (UPDATE ... SET status='sending') the database is asked to make."""
    made: list[str] = []

    def capture(_c: object, _cur: object, statement: str, *_: object) -> None:
        if statement.startswith("UPDATE outbox SET status"):
            made.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
    return made


async def outbox_rows(db: Database) -> list[OutboxRow]:
    async with db.session() as session:
        return list(await session.scalars(select(OutboxRow)))


async def test_a_tasks_reply_is_written_claimed_and_sent_without_a_claim(db: Database) -> None:
    (task_id,) = await journaled(db)
    sender = RecordingSender()
    out = outbox(db, sender, poll_interval=60)
    await out.feed()  # its first search for due rows: none; the next is a minute away
    woken: list[list[str]] = []
    worker = make_worker(
        db, HelpClassifier(), "node-a", reserve=out.reserve, on_replies=woken.append
    )
    claims = claims_counted(db)

    for row, token in await worker.claim():
        await worker._handle(row, token)
    (row,) = await outbox_rows(db)
    assert (row.task_id, row.status, row.claimed_by) == (task_id, "sending", "node-a")
    assert row.lease_until is not None and row.lease_until > utcnow() + timedelta(seconds=50)
    assert woken == []  # nothing for the outbox to claim
    await out.feed()
    assert out.held == 1  # taken in as committed
    assert claims == []  # by primary key or by search: no claim was made

    assert await out.drain() == 1
    assert len(sender.sent) == 1 and sender.sent[0].startswith("Hi Olivia")
    (row,) = await outbox_rows(db)
    assert row.status == "sent"


async def test_with_its_outbox_full_the_replies_wait_and_are_claimed_by_id(db: Database) -> None:
    await journaled(db)
    sender = RecordingSender()
    out = outbox(db, sender, max_held=1)
    held = out.reserve(1)  # another task's replies, about to be committed, take the room
    assert held is not None
    assert out.reserve(1) is None
    woken: list[list[str]] = []
    worker = make_worker(
        db, HelpClassifier(), "node-a", reserve=out.reserve, on_replies=woken.append
    )

    for row, token in await worker.claim():
        await worker._handle(row, token)
    (row,) = await outbox_rows(db)
    assert (row.status, row.claimed_by) == ("pending", None)
    assert woken == [[row.id]]

    held.cancel()  # that task did not commit: its room is free again
    out.wake(woken[0])
    assert await out.drain() == 1
    assert len(sender.sent) == 1


async def test_a_transaction_run_again_gives_back_its_first_reservation(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    (task_id,) = await journaled(db)
    sender = RecordingSender()
    out = outbox(db, sender, max_held=1)
    commit = AsyncSession.commit
    refused: list[int] = []

    async def refused_once(self: AsyncSession) -> None:
        if not refused:
            refused.append(1)
            raise OperationalError("COMMIT", {}, sqlite3.OperationalError("database is locked"))
        await commit(self)

    monkeypatch.setattr(AsyncSession, "commit", refused_once)
    worker = make_worker(db, HelpClassifier(), "node-a", reserve=out.reserve)
    for row, token in await worker.claim():
        await worker._handle(row, token)
    monkeypatch.setattr(AsyncSession, "commit", commit)

    assert refused == [1]
    (row,) = await outbox_rows(db)  # one reply, written by the second run, claimed
    assert (row.task_id, row.status, row.claimed_by) == (task_id, "sending", "node-a")
    # The first run's reservation was given back: with room for one, the second got it.
    assert await out.drain() == 1
    assert len(sender.sent) == 1
    assert out.reserve(1) is not None  # and nothing stays reserved


async def test_replies_committed_by_a_node_that_died_before_taking_them_go_after_the_lease(
    db: Database,
) -> None:
    await journaled(db, count=2)
    dead = outbox(db, RecordingSender(), "node-a")

    def reserve_then_die(count: int) -> Reservation | None:
        taken = dead.reserve(count)
        assert taken is not None
        return Reservation(count, taken.columns, lambda _replies: None, lambda _n: None)

    worker = make_worker(db, HelpClassifier(), "node-a", reserve=reserve_then_die)
    for row, token in await worker.claim():
        await worker._handle(row, token)
    assert [r.status for r in await outbox_rows(db)] == ["sending", "sending"]

    sender = RecordingSender()
    survivor = outbox(db, sender, "node-b")
    assert await survivor.drain() == 0  # their lease holds
    async with db.session() as session:
        await session.execute(update(OutboxRow).values(lease_until=utcnow() - timedelta(seconds=1)))
    assert await survivor.drain() == 2
    assert len(sender.sent) == 2
    rows = await outbox_rows(db)
    assert [(r.status, r.claimed_by) for r in rows] == [("sent", "node-b")] * 2


async def test_a_stopping_outbox_reserves_nothing_and_release_hands_back_what_it_took(
    db: Database,
) -> None:
    await journaled(db)
    out = outbox(db, RecordingSender())
    worker = make_worker(db, HelpClassifier(), "node-a", reserve=out.reserve)
    for row, token in await worker.claim():
        await worker._handle(row, token)  # committed claimed, handed over, not yet sent
    out.stop()
    assert out.reserve(1) is None
    await out.release()
    (row,) = await outbox_rows(db)
    assert (row.status, row.lease_until) == ("pending", None)  # for any node to claim
