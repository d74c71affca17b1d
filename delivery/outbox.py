"""The outbox: replies written with their task's commit, delivered by workers with retries."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.metrics import Metrics
from core.task import Route
from delivery.deliverable import Deliverable, Receipt
from delivery.errors import DeliveryError, PermanentError, Rerouted
from delivery.ratelimit import RateLimiter
from delivery.senders import Sender
from storage.db import Database
from storage.models import DeliveryReceipt, OutboxRow
from storage.types import new_id, utcnow

log = logging.getLogger(__name__)
_outbox = OutboxRow.__table__


def enqueue(
    session: AsyncSession,
    *,
    workspace_id: str,
    route: Route,
    deliverables: Iterable[Deliverable],
    dedupe_prefix: str,
    task_id: str | None = None,
) -> list[str]:
    """Add replies to the outbox inside the caller's transaction; returns their ids.

    The dedupe key `<prefix>:<n>` makes a second enqueue of the same result impossible.
    """
    now = utcnow()
    ids = []
    for seq, deliverable in enumerate(deliverables):
        row = OutboxRow(
            id=new_id(),
            workspace_id=workspace_id,
            task_id=task_id,
            dedupe_key=f"{dedupe_prefix}:{seq}",
            seq=seq,
            channel=route.channel,
            address=route.address,
            thread=route.thread,
            deliverable=deliverable.model_dump(mode="json"),
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        session.add(row)
        ids.append(row.id)
    return ids


def backoff_delay(attempt: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter (AWS architecture blog), never below base / 2."""
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    return max(base / 2, rng.uniform(0, ceiling))


async def replay(session: AsyncSession, workspace_id: str, outbox_id: str | None = None) -> int:
    """Put dead-lettered rows back in the queue (one, or all of the workspace's); returns count."""
    where = [_outbox.c.workspace_id == workspace_id, _outbox.c.status == "dead"]
    if outbox_id is not None:
        where.append(_outbox.c.id == outbox_id)
    result = await session.execute(
        update(_outbox)
        .where(*where)
        .values(status="pending", attempts=0, next_attempt_at=utcnow(), last_error=None)
    )
    return result.rowcount or 0


@dataclass(frozen=True)
class ClaimedReply:
    id: str
    workspace_id: str
    route: Route
    deliverable: Deliverable
    attempts: int
    parts_sent: int = 0


class OutboxWorker:
    """Claims due replies, sends them, and records receipts, retries or dead letters."""

    def __init__(
        self,
        db: Database,
        senders: Mapping[str, Sender],
        *,
        node_id: str,
        metrics: Metrics,
        max_attempts: int = 8,
        backoff_base: float = 1.0,
        backoff_max: float = 300.0,
        lease_seconds: float = 60.0,
        poll_interval: float = 0.5,
        batch_size: int = 50,
        rng: random.Random | None = None,
        limiter: RateLimiter | None = None,
        max_wait: float = 2.0,
    ) -> None:
        self._db = db
        self._senders = senders
        self._node_id = node_id
        self._metrics = metrics
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._lease = timedelta(seconds=lease_seconds)
        self._poll_interval = poll_interval
        self._batch_size = batch_size
        self._rng = rng or random.Random()
        # A call whose rate-limit slot is further off than MAX_WAIT is put back in the queue
        # for that time instead of holding its claim (and a worker) while it waits.
        self._limiter = limiter or RateLimiter()
        self._max_wait = max_wait
        self._wakeup = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        self._wakeup.set()

    def stop(self) -> None:
        self._stopping = True
        self._wakeup.set()

    async def run(self) -> None:
        while not self._stopping:
            claimed = await self.claim_due()
            if claimed:
                results = await asyncio.gather(
                    *(self._deliver(reply) for reply in claimed), return_exceptions=True
                )
                for result in results:
                    if isinstance(result, Exception):
                        # Recording the outcome failed (the database, say): the row's lease
                        # runs out and it is tried again; the worker itself keeps going.
                        log.error("outbox delivery crashed", exc_info=result)
                continue
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._poll_interval)

    async def claim_due(self) -> list[ClaimedReply]:
        """Claim replies whose time has come, or whose claim outlived its lease."""
        now = utcnow()
        due = (
            select(_outbox.c.id)
            .where(
                or_(
                    and_(_outbox.c.status == "pending", _outbox.c.next_attempt_at <= now),
                    and_(_outbox.c.status == "sending", _outbox.c.lease_until < now),
                )
            )
            # Replies to one conversation go out in the order they were written.
            .order_by(_outbox.c.next_attempt_at, _outbox.c.created_at, _outbox.c.seq)
            .limit(self._batch_size)
            .with_for_update(skip_locked=True)
        )
        stmt = (
            update(_outbox)
            .where(_outbox.c.id.in_(due.scalar_subquery()))
            .values(status="sending", claimed_by=self._node_id, lease_until=now + self._lease)
            .returning(
                _outbox.c.id,
                _outbox.c.workspace_id,
                _outbox.c.channel,
                _outbox.c.address,
                _outbox.c.thread,
                _outbox.c.deliverable,
                _outbox.c.attempts,
                _outbox.c.parts_sent,
                _outbox.c.next_attempt_at,
                _outbox.c.created_at,
                _outbox.c.seq,
            )
        )
        async with self._db.session() as session:
            rows = (await session.execute(stmt)).all()
        # RETURNING follows no order: sort again, so one conversation's replies keep theirs.
        rows.sort(key=lambda r: (r.next_attempt_at, r.created_at, r.seq))
        return [
            ClaimedReply(
                id=row.id,
                workspace_id=row.workspace_id,
                route=Route(channel=row.channel, address=row.address, thread=row.thread),
                deliverable=Deliverable.model_validate(row.deliverable),
                attempts=row.attempts,
                parts_sent=row.parts_sent or 0,
            )
            for row in rows
        ]

    async def _deliver(self, reply: ClaimedReply) -> None:
        sender = self._senders.get(reply.route.channel)
        parts_sent = reply.parts_sent
        try:
            if sender is None:
                raise PermanentError(f"no sender for channel {reply.route.channel!r}")
            ops = sender.plan(reply.route, reply.deliverable)
            receipt = Receipt(status="sent")
            for index in range(parts_sent, len(ops)):
                op = ops[index]
                wait = self._limiter.reserve(op.rate_keys, max_wait=self._max_wait)
                if wait is None:
                    await self._defer(reply, parts_sent, self._limiter.ready_in(op.rate_keys))
                    return
                if wait > 0:
                    await asyncio.sleep(wait)
                try:
                    receipt = await sender.perform(reply.route, op)
                except DeliveryError as exc:
                    if exc.retry_after is not None:
                        self._limiter.penalize(op.rate_keys, exc.retry_after)
                    raise
                parts_sent = index + 1
                if index + 1 < len(ops):
                    await self._record_part(reply, index, receipt)
        except Rerouted as exc:
            await self._reroute(reply, exc)
        except DeliveryError as exc:
            await self._record_failure(reply, exc, parts_sent)
        except Exception as exc:  # an SDK error nobody mapped: retry, and log the traceback
            log.exception("unmapped delivery error on outbox row %s", reply.id)
            await self._record_failure(
                reply, DeliveryError(f"{type(exc).__name__}: {exc}"), parts_sent
            )
        else:
            await self._record_sent(reply, receipt, parts_sent)

    def _receipt(self, reply: ClaimedReply, part: int, receipt: Receipt) -> DeliveryReceipt | None:
        if receipt.provider_message_id is None:
            return None
        now = utcnow()
        return DeliveryReceipt(
            workspace_id=reply.workspace_id,
            outbox_id=reply.id,
            part=part,
            channel=reply.route.channel,
            provider_message_id=receipt.provider_message_id,
            status=receipt.status,
            created_at=now,
            updated_at=now,
        )

    async def _record_part(self, reply: ClaimedReply, index: int, receipt: Receipt) -> None:
        """One part went out: remember it before trying the next, so none is sent twice."""
        async with self._db.session() as session:
            await session.execute(
                update(_outbox).where(_outbox.c.id == reply.id).values(parts_sent=index + 1)
            )
            row = self._receipt(reply, index, receipt)
            if row is not None:
                session.add(row)

    async def _defer(self, reply: ClaimedReply, parts_sent: int, delay: float) -> None:
        """Rate limit: back in the queue when its slot comes, without counting an attempt."""
        async with self._db.session() as session:
            await session.execute(
                update(_outbox)
                .where(_outbox.c.id == reply.id)
                .values(
                    status="pending",
                    lease_until=None,
                    parts_sent=parts_sent,
                    next_attempt_at=utcnow() + timedelta(seconds=delay),
                )
            )
        self._metrics.outbox_sent.labels(reply.route.channel, "deferred").inc()

    async def _reroute(self, reply: ClaimedReply, exc: Rerouted) -> None:
        """The channel cannot take it (WhatsApp's 24-hour window, say): send it elsewhere."""
        deliverable = reply.deliverable
        if exc.notice:
            deliverable = deliverable.model_copy(
                update={"text": f"{exc.notice}\n\n{deliverable.text}"}
            )
        async with self._db.session() as session:
            enqueue(
                session,
                workspace_id=reply.workspace_id,
                route=exc.route,
                deliverables=[deliverable],
                dedupe_prefix=f"reroute:{reply.id}",
            )
            await session.execute(
                update(_outbox)
                .where(_outbox.c.id == reply.id)
                .values(
                    status="rerouted",
                    lease_until=None,
                    last_error=f"moved to {exc.route.channel}: {exc}"[:2000],
                )
            )
        self._metrics.outbox_sent.labels(reply.route.channel, "rerouted").inc()
        self.wake()

    async def _record_sent(self, reply: ClaimedReply, receipt: Receipt, parts_sent: int) -> None:
        async with self._db.session() as session:
            row = self._receipt(reply, max(parts_sent - 1, 0), receipt)
            if row is not None:
                session.add(row)
            await session.execute(
                update(_outbox)
                .where(_outbox.c.id == reply.id)
                .values(
                    status="sent",
                    attempts=reply.attempts + 1,
                    sent_at=utcnow(),
                    lease_until=None,
                    last_error=None,
                    provider_message_id=receipt.provider_message_id,
                    provider_status=receipt.status,
                    parts_sent=parts_sent,
                )
            )
        self._metrics.outbox_sent.labels(reply.route.channel, "sent").inc()

    async def _record_failure(
        self, reply: ClaimedReply, exc: DeliveryError, parts_sent: int
    ) -> None:
        attempts = reply.attempts + 1
        permanent = isinstance(exc, PermanentError)
        dead = permanent or attempts >= self._max_attempts
        values: dict[str, Any] = {
            "attempts": attempts,
            "parts_sent": parts_sent,
            "lease_until": None,
            "last_error": str(exc)[:2000],
            "status": "dead" if dead else "pending",
        }
        if not dead:
            delay = backoff_delay(
                attempts, base=self._backoff_base, cap=self._backoff_max, rng=self._rng
            )
            if exc.retry_after is not None:
                delay = max(delay, exc.retry_after)
            values["next_attempt_at"] = utcnow() + timedelta(seconds=delay)
        async with self._db.session() as session:
            await session.execute(update(_outbox).where(_outbox.c.id == reply.id).values(**values))
        outcome = "dead" if dead else "retry"
        self._metrics.outbox_sent.labels(reply.route.channel, outcome).inc()
        log.warning(
            "delivery failed",
            extra={
                "outbox_id": reply.id,
                "channel": reply.route.channel,
                "attempt": attempts,
                "outcome": outcome,
                "error": str(exc)[:300],
            },
        )

    async def release(self) -> None:
        """On shutdown: hand back rows this node claimed but did not finish."""
        async with self._db.session() as session:
            await session.execute(
                update(_outbox)
                .where(_outbox.c.status == "sending", _outbox.c.claimed_by == self._node_id)
                .values(status="pending", lease_until=None)
            )
