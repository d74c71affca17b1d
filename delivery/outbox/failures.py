"""What a failed delivery leaves: a retry after backoff, a dead letter, or a reroute."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from config.metrics import Metrics
from delivery.errors import DeliveryError, PermanentError, Rerouted
from delivery.outbox.claims import OUTBOX, ClaimedReply
from delivery.outbox.queue import enqueue
from storage.db import Database
from storage.types import utcnow

# The outbox's one logger, as before it became a package: log queries keep matching.
log = logging.getLogger("delivery.outbox")


def backoff_delay(attempt: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter (AWS architecture blog), never below base / 2."""
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    return max(base / 2, rng.uniform(0, ceiling))


@dataclass(frozen=True)
class RetryPolicy:
    """How often a failed reply is tried again, and how long it waits in between."""

    max_attempts: int
    backoff_base: float
    backoff_max: float
    rng: random.Random

    def gives_up(self, attempts: int, exc: DeliveryError) -> bool:
        return isinstance(exc, PermanentError) or attempts >= self.max_attempts

    def delay(self, attempts: int, exc: DeliveryError) -> float:
        """Seconds until the next attempt: backoff, or the provider's Retry-After if longer."""
        delay = backoff_delay(attempts, base=self.backoff_base, cap=self.backoff_max, rng=self.rng)
        if exc.retry_after is not None:
            delay = max(delay, exc.retry_after)
        return delay


async def record_failure(
    db: Database,
    metrics: Metrics,
    policy: RetryPolicy,
    reply: ClaimedReply,
    exc: DeliveryError,
    parts_sent: int,
    in_doubt: bool,
) -> None:
    """Count the attempt: the row waits for its next one, or is dead-lettered."""
    attempts = reply.attempts + 1
    dead = policy.gives_up(attempts, exc)
    values: dict[str, Any] = {
        "attempts": attempts,
        "parts_sent": parts_sent,
        "in_doubt": in_doubt,
        "lease_until": None,
        "last_error": str(exc)[:2000],
        "status": "dead" if dead else "pending",
    }
    if not dead:
        values["next_attempt_at"] = utcnow() + timedelta(seconds=policy.delay(attempts, exc))
    async with db.writing(), db.session() as session:
        await session.execute(update(OUTBOX).where(OUTBOX.c.id == reply.id).values(**values))
    outcome = "dead" if dead else "retry"
    metrics.outbox_sent.labels(reply.route.channel, outcome).inc()
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


async def reroute(db: Database, metrics: Metrics, reply: ClaimedReply, exc: Rerouted) -> None:
    """The channel cannot take it (WhatsApp's 24-hour window, say): send it elsewhere."""
    deliverable = reply.deliverable
    if exc.notice:
        deliverable = deliverable.model_copy(update={"text": f"{exc.notice}\n\n{deliverable.text}"})
    async with db.writing(), db.session() as session:
        enqueue(
            session,
            workspace_id=reply.workspace_id,
            route=exc.route,
            deliverables=[deliverable],
            dedupe_prefix=f"reroute:{reply.id}",
        )
        await session.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id == reply.id)
            .values(
                status="rerouted",
                lease_until=None,
                last_error=f"moved to {exc.route.channel}: {exc}"[:2000],
            )
        )
    metrics.outbox_sent.labels(reply.route.channel, "rerouted").inc()
