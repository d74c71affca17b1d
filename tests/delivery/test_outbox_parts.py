"""Replies made of several provider calls: resumed after the last part sent, rate-limited by
deferral rather than waiting, pushed back by a 429, and moved to another channel when asked."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import select

from config.metrics import Metrics
from core.team import directory
from delivery.errors import DeliveryError, ProviderUnavailable, RateLimited, Rerouted
from delivery.outbox.queue import enqueue
from delivery.outbox.worker import OutboxWorker
from delivery.ratelimit import RateLimiter, Rule
from delivery.senders import Op
from models.deliverable import Deliverable, Receipt
from models.task import Route
from storage.db import Database
from storage.models import DeliveryReceipt, OutboxRow
from storage.types import utcnow


class PartedSender:
    """Splits a reply into words, one provider call each; fails where scripted."""

    def __init__(self, failures: dict[int, DeliveryError] | None = None) -> None:
        self.failures = dict(failures or {})
        self.calls: list[str] = []
        self.performed: list[str] = []

    def plan(self, route: Route, deliverable: Deliverable) -> list[Op]:
        return [
            Op("post", {"text": word}, (("chat", route.address),))
            for word in deliverable.text.split()
        ]

    async def perform(self, route: Route, op: Op) -> Receipt:
        self.calls.append(op.payload["text"])
        failure = self.failures.pop(len(self.calls), None)
        if failure is not None:
            raise failure
        self.performed.append(op.payload["text"])
        return Receipt(provider_message_id=f"m{len(self.calls)}")


async def _seed(db: Database, *texts: str, channel: str = "sms") -> tuple[str, list[str]]:
    async with db.session() as session:
        ws = await directory.create_workspace(session, "Acme")
        ids = enqueue(
            session,
            workspace_id=ws.id,
            route=Route(channel=channel, address="+15550001111"),  # type: ignore[arg-type]
            deliverables=[Deliverable(text=text) for text in texts],
            dedupe_prefix="test",
        )
        return ws.id, ids


def _worker(db: Database, sender: object, limiter: RateLimiter | None = None) -> OutboxWorker:
    return OutboxWorker(
        db,
        {"sms": sender, "email": sender},  # type: ignore[dict-item]
        node_id="n1",
        metrics=Metrics(),
        rng=random.Random(3),
        backoff_base=0.5,
        backoff_max=1,
        limiter=limiter or RateLimiter({}),
        max_wait=0.5,
    )


async def _drain(worker: OutboxWorker) -> int:
    return await worker.drain()


async def _rows(db: Database) -> dict[str, OutboxRow]:
    async with db.session() as session:
        return {r.id: r for r in await session.scalars(select(OutboxRow))}


async def _make_due(db: Database) -> None:
    async with db.session() as session:
        for row in await session.scalars(select(OutboxRow)):
            row.next_attempt_at = utcnow() - timedelta(seconds=1)


async def test_a_retry_resumes_after_the_last_part_that_went_out(db: Database) -> None:
    _, (row_id,) = await _seed(db, "one two three")
    sender = PartedSender({2: ProviderUnavailable("503 on the second part")})
    worker = _worker(db, sender)

    assert await _drain(worker) == 2  # "one" went out, "two" failed
    row = (await _rows(db))[row_id]
    assert (row.status, row.parts_sent, row.attempts) == ("pending", 1, 1)

    await _make_due(db)
    assert await _drain(worker) == 2  # "two" again, then "three"
    row = (await _rows(db))[row_id]
    assert (row.status, row.parts_sent) == ("sent", 3)
    # "one" went out exactly once although the reply was tried twice.
    assert sender.performed == ["one", "two", "three"]
    async with db.session() as session:
        receipts = list(
            await session.scalars(select(DeliveryReceipt).order_by(DeliveryReceipt.part))
        )
    assert [(r.part, r.provider_message_id) for r in receipts] == [(0, "m1"), (1, "m3"), (2, "m4")]


async def test_a_busy_conversation_is_deferred_not_waited_for(db: Database) -> None:
    _, (first, second) = await _seed(db, "hello", "again")
    limiter = RateLimiter({"chat": Rule.per(1, 30.0)})
    sender = PartedSender()
    worker = _worker(db, sender, limiter)

    before = utcnow()
    assert await _drain(worker) == 1  # one call: the second reply's slot is 30 s away
    rows = await _rows(db)
    assert rows[first].status == "sent"
    # The second reply's slot is 30 s away: back in the queue for then, no attempt counted.
    assert (rows[second].status, rows[second].attempts) == ("pending", 0)
    assert rows[second].next_attempt_at >= before + timedelta(seconds=29)
    assert sender.performed == ["hello"]


async def test_a_429_holds_back_the_conversation_for_retry_after(db: Database) -> None:
    _, (row_id, _other) = await _seed(db, "hello", "again")
    limiter = RateLimiter({"chat": Rule(0.0)})
    sender = PartedSender({1: RateLimited("429", retry_after=40)})
    worker = _worker(db, sender, limiter)

    await _drain(worker)
    assert limiter.ready_in([("chat", "+15550001111")]) > 39
    row = (await _rows(db))[row_id]
    assert row.status == "pending" and row.next_attempt_at >= utcnow() + timedelta(seconds=39)


class ReroutingSender:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def plan(self, route: Route, deliverable: Deliverable) -> list[Op]:
        return [Op("send", {"text": deliverable.text})]

    async def perform(self, route: Route, op: Op) -> Receipt:
        if route.channel == "sms":
            raise Rerouted(
                "outside the window",
                route=Route(channel="email", address="ann@example.com"),
                notice="This went to your email instead.",
            )
        self.sent.append((route.address, op.payload["text"]))
        return Receipt(provider_message_id="e1")


async def test_a_rerouted_reply_is_sent_once_on_the_other_channel_with_the_notice(
    db: Database,
) -> None:
    _, (row_id,) = await _seed(db, "Your report")
    sender = ReroutingSender()
    worker = _worker(db, sender)
    await _drain(worker)
    await _drain(worker)
    await _drain(worker)
    rows = await _rows(db)
    assert rows[row_id].status == "rerouted"
    (moved,) = [r for r in rows.values() if r.id != row_id]
    assert (moved.channel, moved.status) == ("email", "sent")
    assert sender.sent == [("ann@example.com", "This went to your email instead.\n\nYour report")]
