"""What a worker holds in memory: claimed replies queued per conversation, and rows put back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from delivery.outbox.claims import EPOCH, ClaimedReply
from delivery.ratelimit import RateKey
from delivery.senders import Op, Sender
from models.task import Route

# (channel, address, thread): one ordered stream of replies. The rate limits are not kept per
# conversation but per the keys each call names, so conversations sharing a channel still
# share its limit.
Conversation = tuple[str, str, str]
# Where each thread is a conversation of its own: Slack shows a thread apart from its channel,
# so a reply in one thread does not wait behind another thread's (a chart held by the
# workspace's upload limit, say). Elsewhere the thread is only what a reply quotes (Telegram's
# message, a call's turn) and the chat or call is one conversation, kept in order.
_THREADS_APART = frozenset({"slack"})


def conversation_of(route: Route) -> Conversation:
    if route.channel in _THREADS_APART and route.thread:
        return (route.channel, route.address, route.thread)
    return (route.channel, route.address, "")


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
    # (part, time): the call for that part cannot start before that time, as a dispatch
    # round found one of its keys full (`RateLimiter.frees_at`, a bound that never moves
    # earlier). Rounds pass over the job until then without asking the limiter again.
    waits: tuple[int, float] = field(init=False, default=(-1, 0.0))

    def __post_init__(self) -> None:
        reply = self.reply
        self.in_doubt = reply.in_doubt
        self.conversation = conversation_of(reply.route)
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
