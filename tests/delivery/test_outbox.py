"""The outbox worker: retries with backoff and Retry-After, dead letters, replay."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from config.metrics import Metrics
from core.team import directory
from delivery.errors import DeliveryError, Forbidden, ProviderUnavailable, RateLimited
from delivery.outbox.failures import backoff_delay
from delivery.outbox.queue import enqueue, replay
from delivery.outbox.worker import OutboxWorker
from delivery.senders import WholeSender
from models.deliverable import Deliverable, Receipt
from models.task import Route
from storage.db import Database
from storage.models import OutboxRow
from storage.types import utcnow


class ScriptedSender(WholeSender):
    """Raises the scripted errors in order, then accepts; records every attempt."""

    def __init__(self, *errors: DeliveryError) -> None:
        self.errors = list(errors)
        self.attempts: list[str] = []

    async def send(self, route: Route, deliverable: Deliverable) -> Receipt:
        self.attempts.append(deliverable.text)
        if self.errors:
            raise self.errors.pop(0)
        return Receipt(provider_message_id=f"msg-{len(self.attempts)}")


async def _seed_reply(db: Database, text: str = "hello") -> tuple[str, str]:
    async with db.session() as session:
        ws = await directory.create_workspace(session, "Acme")
        (row_id,) = enqueue(
            session,
            workspace_id=ws.id,
            route=Route(channel="sms", address="+15550001111"),
            deliverables=[Deliverable(text=text)],
            dedupe_prefix="test:1",
        )
        return ws.id, row_id


def _worker(db: Database, sender: ScriptedSender, **kw: object) -> OutboxWorker:
    return OutboxWorker(
        db,
        {"sms": sender},
        node_id="n1",
        metrics=Metrics(),
        rng=random.Random(7),
        **kw,  # type: ignore[arg-type]
    )


async def _row(db: Database, row_id: str) -> OutboxRow:
    async with db.session() as session:
        row = await session.get(OutboxRow, row_id)
        assert row is not None
        return row


async def _make_due(db: Database, row_id: str) -> None:
    async with db.session() as session:
        row = await session.get(OutboxRow, row_id)
        assert row is not None
        row.next_attempt_at = utcnow() - timedelta(seconds=1)


async def _drain_once(worker: OutboxWorker) -> int:
    return await worker.drain()


async def test_retryable_error_is_retried_after_retry_after(db: Database) -> None:
    _, row_id = await _seed_reply(db)
    sender = ScriptedSender(RateLimited("429 from provider", retry_after=120))
    worker = _worker(db, sender, backoff_base=0.5, backoff_max=10)

    before = utcnow()
    assert await _drain_once(worker) == 1
    row = await _row(db, row_id)
    assert (row.status, row.attempts) == ("pending", 1)
    # Retry-After (120 s) wins over the much shorter backoff (at most 0.5 s here).
    assert row.next_attempt_at >= before + timedelta(seconds=119)
    assert await _drain_once(worker) == 0  # not due yet: nothing is sent early

    await _make_due(db, row_id)
    assert await _drain_once(worker) == 1
    row = await _row(db, row_id)
    assert (row.status, row.attempts, row.provider_message_id) == ("sent", 2, "msg-2")
    assert sender.attempts == ["hello", "hello"]


async def test_dead_letter_after_max_attempts_then_replay(db: Database) -> None:
    ws_id, row_id = await _seed_reply(db)
    sender = ScriptedSender(*[ProviderUnavailable("503") for _ in range(3)])
    worker = _worker(db, sender, max_attempts=3)
    for _ in range(3):
        await _make_due(db, row_id)
        assert await _drain_once(worker) == 1
    row = await _row(db, row_id)
    assert (row.status, row.attempts, row.last_error) == ("dead", 3, "503")
    await _make_due(db, row_id)
    assert await _drain_once(worker) == 0  # dead letters stay put

    async with db.session() as session:
        assert await replay(session, ws_id) == 1
    assert await _drain_once(worker) == 1
    row = await _row(db, row_id)
    assert (row.status, row.last_error) == ("sent", None)
    assert len(sender.attempts) == 4


async def test_permanent_error_dead_letters_at_once(db: Database) -> None:
    _, row_id = await _seed_reply(db)
    worker = _worker(db, ScriptedSender(Forbidden("bot was removed from the channel")))
    assert await _drain_once(worker) == 1
    row = await _row(db, row_id)
    assert (row.status, row.attempts) == ("dead", 1)
    assert row.last_error == "bot was removed from the channel"


async def test_reply_claimed_by_a_dead_node_is_sent_after_its_lease(db: Database) -> None:
    _, row_id = await _seed_reply(db)
    dead = _worker(db, ScriptedSender(), lease_seconds=30)
    assert len(await dead.claim_due()) == 1  # claimed, then the node dies
    sender = ScriptedSender()
    survivor = _worker(db, sender)
    assert await _drain_once(survivor) == 0
    async with db.session() as session:
        row = await session.get(OutboxRow, row_id)
        assert row is not None
        row.lease_until = utcnow() - timedelta(seconds=1)
    assert await _drain_once(survivor) == 1
    assert sender.attempts == ["hello"]


async def test_enqueue_twice_with_the_same_key_is_refused(db: Database) -> None:
    from sqlalchemy.exc import IntegrityError

    ws_id, _ = await _seed_reply(db)
    with pytest.raises(IntegrityError):
        async with db.session() as session:
            enqueue(
                session,
                workspace_id=ws_id,
                route=Route(channel="sms", address="+15550001111"),
                deliverables=[Deliverable(text="again")],
                dedupe_prefix="test:1",
            )
    async with db.session() as session:
        rows = list(await session.scalars(select(OutboxRow)))
    assert [r.deliverable["text"] for r in rows] == ["hello"]


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    rng = random.Random(1)
    ceilings = [min(60.0, 2.0 * 2 ** (n - 1)) for n in range(1, 10)]
    for attempt, ceiling in enumerate(ceilings, start=1):
        samples = [backoff_delay(attempt, base=2.0, cap=60.0, rng=rng) for _ in range(200)]
        assert all(1.0 <= s <= ceiling for s in samples)
        if ceiling > 4:
            assert max(samples) > ceiling / 2  # jitter spreads across the range


async def test_replies_named_on_wake_are_claimed_at_once_by_id(db: Database) -> None:
    worker = _worker(db, ScriptedSender(), poll_interval=60)
    await worker.feed()  # nothing due: the next search for due rows is a minute away
    _, row_id = await _seed_reply(db)
    worker.wake([row_id])
    await worker.feed()
    row = await _row(db, row_id)
    assert (row.status, row.claimed_by) == ("sending", "n1")
    assert worker.held == 1


async def test_a_reply_committed_while_a_search_is_under_way_is_claimed_soon(
    db: Database,
) -> None:
    """Searches a minute apart. A reply is committed and the outbox woken (with no ids, as
    the gateway's other writers wake it) while a search for due rows is under way, and the
    search finds nothing: the next search is made after the usual short gap, not at the next
    poll."""
    now = [1000.0]
    worker = _worker(db, ScriptedSender(), poll_interval=60, clock=lambda: now[0])
    search = worker.claim_due
    committed: list[str] = []

    async def search_then_commit(limit: int | None = None, *, ids: Any = ()) -> Any:
        claimed = await search(limit, ids=ids)
        if not ids and not committed:
            committed.append((await _seed_reply(db))[1])
            worker.wake()
        return claimed

    worker.claim_due = search_then_commit  # type: ignore[method-assign]
    await worker.feed()
    assert committed and worker.held == 0  # the search did not see it

    now[0] += 0.2  # a moment later, not a minute
    await worker.feed()
    row = await _row(db, committed[0])
    assert (row.status, row.claimed_by) == ("sending", "n1")
    assert worker.held == 1


async def test_a_reply_named_on_wake_but_taken_by_another_node_is_left_to_it(
    db: Database,
) -> None:
    _, row_id = await _seed_reply(db)
    other = OutboxWorker(db, {"sms": ScriptedSender()}, node_id="n2", metrics=Metrics())
    assert [r.id for r in await other.claim_due()] == [row_id]
    worker = _worker(db, ScriptedSender())
    worker.wake([row_id])
    await worker.feed()
    assert worker.held == 0
    assert (await _row(db, row_id)).claimed_by == "n2"


async def test_a_claim_by_ids_reads_the_rows_by_primary_key_however_many(
    sqlite_url: str,
) -> None:
    """SQLite's planner, asked the claim the outbox makes, reads by primary key, not by the
    status index: with it, each claim read every pending row (a backlog of thousands under
    load), and three ids cost ten times one. (PostgreSQL's planner takes the key anyway.)"""
    from sqlalchemy import event

    db = Database(sqlite_url)
    await db.migrate()
    executed: list[tuple[str, object]] = []

    def capture(_conn: object, _cursor: object, statement: str, params: object, *_: object) -> None:
        if statement.startswith("UPDATE outbox"):
            executed.append((statement, params))

    event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
    worker = _worker(db, ScriptedSender())
    try:
        for count in (1, 3, 50):
            executed.clear()
            await worker.claim_due(ids=[f"id{n}" for n in range(count)])
            ((statement, params),) = executed
            async with db.engine.connect() as conn:
                plan = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)
                details = [row[-1] for row in plan]
            assert any("sqlite_autoindex_outbox_1 (id=?)" in d for d in details), details
            assert not any("ix_outbox_due" in d for d in details), details
    finally:
        await db.dispose()


async def test_claims_by_ids_still_take_only_pending_rows(db: Database) -> None:
    _, row_id = await _seed_reply(db)
    first = _worker(db, ScriptedSender())
    second = OutboxWorker(db, {"sms": ScriptedSender()}, node_id="n2", metrics=Metrics())
    assert [r.id for r in await first.claim_due(ids=[row_id, "unknown"])] == [row_id]
    assert await second.claim_due(ids=[row_id, "unknown"]) == []
    assert (await _row(db, row_id)).claimed_by == "n1"
