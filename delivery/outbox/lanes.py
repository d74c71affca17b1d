"""What a worker holds in memory: claimed replies queued per conversation, and rows put back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from delivery.outbox.claims import EPOCH, ClaimedReply
from delivery.ratelimit import RateKey
from delivery.senders import Op, Sender

Conversation = tuple[str, str]  # (channel, address): one rate-limited, ordered stream


Order = tuple[datetime, int, str]  # (created_at, seq, id): oldest first


@dataclass(eq=False)
class Job:
    """A claimed reply held in memory until its calls are made or it goes back to the queue."""

    reply: ClaimedReply
    sender: Sender
    ops: list[Op]
    claimed_at: float  # monotonic
    parts_sent: int
    # Per call: its conversation's pace and the pace of the widest limit it shares.
    paces: list[tuple[float, float]]
    conversation: Conversation = field(init=False)
    order: Order = field(init=False)
    in_doubt: bool = field(init=False)  # until the provider has been asked

    def __post_init__(self) -> None:
        reply = self.reply
        self.in_doubt = reply.in_doubt
        self.conversation = (reply.route.channel, reply.route.address)
        self.order = (reply.created_at or EPOCH, reply.seq, reply.id)

    @property
    def keys(self) -> tuple[RateKey, ...]:
        return self.ops[self.parts_sent].rate_keys

    @property
    def calls_left(self) -> int:
        return len(self.ops) - self.parts_sent


@dataclass
class Parked:
    """Rows of one conversation this node put back for a later slot: newer rows of the
    conversation wait until they are claimed again."""

    rows: dict[str, tuple[Order, float]] = field(default_factory=dict)  # id -> (order, slot)
    oldest: Order | None = None

    def add(self, job: Job, slot: float) -> None:
        self.rows[job.reply.id] = (job.order, slot)
        if self.oldest is None or job.order < self.oldest:
            self.oldest = job.order

    def remove(self, row_id: str) -> None:
        if self.rows.pop(row_id, None) is not None:
            self.oldest = min((order for order, _ in self.rows.values()), default=None)

    def slot_before(self, order: Order) -> float | None:
        """The latest slot of the rows put back that are older than ORDER."""
        return max((slot for o, slot in self.rows.values() if o < order), default=None)
