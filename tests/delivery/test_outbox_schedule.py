"""How the outbox drains under rate limits, on a controlled clock: a busy conversation never
holds up the others, a shared limit is used in full but never exceeded in any window, a
conversation's replies keep their order, and two nodes never send one reply twice."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from config.metrics import Metrics
from core.team import directory
from delivery.outbox.queue import enqueue
from delivery.outbox.worker import OutboxWorker
from delivery.ratelimit import Permit, RateLimiter, Rule
from delivery.senders import Op
from models.deliverable import Deliverable, Receipt
from models.task import Route
from storage.db import Database
from storage.models import OutboxRow
from storage.types import utcnow


@pytest.fixture
async def sqlite_db(sqlite_url: str) -> AsyncIterator[Database]:
    """The scheduling does not depend on the backend; claiming does (two nodes: both)."""
    database = Database(sqlite_url)
    await database.migrate()
    try:
        yield database
    finally:
        await database.dispose()


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


class ChatSender:
    """One call per reply, counted against its chat and the bot; records when (on the test's
    clock) each call reached the "provider"."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.calls: list[tuple[float, str, str]] = []  # (time, chat, text)

    def plan(self, route: Route, deliverable: Deliverable) -> list[Op]:
        return [Op("post", {"text": deliverable.text}, (("chat", route.address), ("bot", "b")))]

    async def perform(self, route: Route, op: Op) -> Receipt:
        self.calls.append((self.clock.now, route.address, op.payload["text"]))
        return Receipt(provider_message_id=f"m{len(self.calls)}")


async def _enqueue(db: Database, replies: list[tuple[str, str]], *, batch: int = 0) -> None:
    """Each (chat, text) a reply of its own, written in the order given."""
    routed = [(Route(channel="telegram", address=chat), text) for chat, text in replies]
    await _enqueue_routed(db, routed, batch=batch)


def _worker(
    db: Database,
    sender: ChatSender,
    limiter: RateLimiter,
    clock: Clock,
    *,
    node: str = "n1",
    max_wait: float = 2.0,
    batch_size: int = 50,
) -> OutboxWorker:
    return OutboxWorker(
        db,
        {"telegram": sender},  # type: ignore[dict-item]
        node_id=node,
        metrics=Metrics(),
        rng=random.Random(5),
        limiter=limiter,
        clock=clock,
        max_wait=max_wait,
        batch_size=batch_size,
    )


async def _make_due(db: Database) -> None:
    async with db.session() as session:
        await session.execute(
            update(OutboxRow)
            .where(OutboxRow.status == "pending")
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )


async def _statuses(db: Database) -> Counter[str]:
    async with db.session() as session:
        return Counter(await session.scalars(select(OutboxRow.status)))


def _max_in_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window - 1e-9:
            start += 1
        best = max(best, end - start + 1)
    return best


async def test_a_busy_conversation_does_not_hold_up_the_others(sqlite_db: Database) -> None:
    db = sqlite_db
    clock = Clock()
    limiter = RateLimiter({"chat": Rule.per(1, 1.0)}, clock=clock)
    sender = ChatSender(clock)
    worker = _worker(db, sender, limiter, clock)
    # Chat A's three replies were written first; B, C and D have one each.
    await _enqueue(db, [("A", "a1"), ("A", "a2"), ("A", "a3"), ("B", "b"), ("C", "c"), ("D", "d")])

    await worker.drain()
    # A's next slot is a second away: B, C and D went at once, not after it.
    assert sorted(text for _, _, text in sender.calls) == ["a1", "b", "c", "d"]
    clock.now += 1.0
    await worker.drain()
    clock.now += 1.0
    await worker.drain()
    assert [text for _, chat, text in sender.calls if chat == "A"] == ["a1", "a2", "a3"]
    assert [t for t, chat, _ in sender.calls if chat == "A"] == [5000.0, 5001.0, 5002.0]
    assert await _statuses(db) == Counter(sent=6)


async def test_a_shared_limit_is_used_in_full_and_never_exceeded(sqlite_db: Database) -> None:
    db = sqlite_db
    """12 chats, two replies each, a bot allowed 5 calls per second: 24 calls need at least
    floor(23 / 5) = 4 seconds; the outbox takes no longer, and no second sees a sixth call."""
    clock = Clock()
    limiter = RateLimiter({"chat": Rule.per(1, 1.0), "bot": Rule.per(5, 1.0)}, clock=clock)
    sender = ChatSender(clock)
    worker = _worker(db, sender, limiter, clock)
    chats = [f"chat{n:02d}" for n in range(12)]
    await _enqueue(db, [(chat, f"{chat}-{k}") for k in (1, 2) for chat in chats])

    for _ in range(100):
        await worker.drain()
        if len(sender.calls) == 24:
            break
        clock.now += 0.25
    times = [t for t, _, _ in sender.calls]
    assert len(times) == 24
    assert max(times) - 5000.0 <= 4.0
    assert _max_in_window(times) <= 5
    for chat in chats:
        mine = [(t, text) for t, c, text in sender.calls if c == chat]
        assert [text for _, text in mine] == [f"{chat}-1", f"{chat}-2"]
        assert mine[1][0] - mine[0][0] >= 1.0
    assert await _statuses(db) == Counter(sent=24)


class CountingLimiter(RateLimiter):
    """Counts the permits asked for, and the looks at whether a key is full."""

    tries = 0
    looks = 0

    def acquire(self, keys: Any) -> Permit | None:
        self.tries += 1
        return super().acquire(keys)

    def frees_at(self, key: Any, now: float) -> float | None:
        self.looks += 1
        return super().frees_at(key, now)


async def _twelve_chats_one_bot(
    db: Database,
) -> tuple[Clock, CountingLimiter, ChatSender, OutboxWorker]:
    """Twelve chats with a reply each, queued, and a bot allowed 5 calls a second."""
    clock = Clock()
    limiter = CountingLimiter({"chat": Rule.per(1, 1.0), "bot": Rule.per(5, 1.0)}, clock=clock)
    sender = ChatSender(clock)
    worker = _worker(db, sender, limiter, clock)
    await _enqueue(db, [(f"chat{n:02d}", f"reply {n}") for n in range(12)])
    return clock, limiter, sender, worker


async def test_a_round_tries_no_call_whose_limit_is_full_as_it_starts(sqlite_db: Database) -> None:
    """A bot allowed 5 calls a second and 12 chats waiting: once the 5 went out, the rounds
    in that second try none of the other 7 (their shared limit cannot free by another's
    call), and the next second's round takes the next 5."""
    clock, limiter, sender, worker = await _twelve_chats_one_bot(sqlite_db)

    await worker.drain()
    assert len(sender.calls) == 5
    limiter.tries = 0
    await worker.drain()
    await worker.drain()
    assert (len(sender.calls), limiter.tries) == (5, 0)
    clock.now += 1.0
    await worker.drain()
    assert len(sender.calls) == 10
    assert [text for _, _, text in sender.calls] == [f"reply {n}" for n in range(10)]


async def test_rounds_pass_over_calls_found_waiting_until_their_key_frees(
    sqlite_db: Database,
) -> None:
    """Seven chats wait for the bot's next second: the round that finds them waiting looks
    at their keys, and the rounds after it in that second look at none (each such lane
    cost a look at every key of its call, every round, with a backlog of paced uploads);
    when the second is over they are looked at again and the next 5 go, oldest first."""
    clock, limiter, sender, worker = await _twelve_chats_one_bot(sqlite_db)

    await worker.drain()
    assert len(sender.calls) == 5
    limiter.looks = limiter.tries = 0
    for _ in range(3):
        await worker.drain()
    assert (len(sender.calls), limiter.looks, limiter.tries) == (5, 0, 0)
    clock.now += 0.999
    await worker.drain()
    assert (len(sender.calls), limiter.looks, limiter.tries) == (5, 0, 0)
    clock.now += 0.001
    await worker.drain()
    assert len(sender.calls) == 10
    assert limiter.looks > 0
    assert [text for _, _, text in sender.calls] == [f"reply {n}" for n in range(10)]


async def test_a_conversation_on_the_critical_path_gets_the_shared_slots_first(
    sqlite_db: Database,
) -> None:
    """Twenty chats with one reply each were written before chat H's six. The bot allows 5
    calls a second: 26 calls need 5 s, and so do H's six at 1 a second, but only if H goes
    every second from the start. Oldest first would put H after the others (9 s)."""
    db = sqlite_db
    clock = Clock()
    limiter = RateLimiter({"chat": Rule.per(1, 1.0), "bot": Rule.per(5, 1.0)}, clock=clock)
    sender = ChatSender(clock)
    worker = _worker(db, sender, limiter, clock, max_wait=10.0)
    light = [(f"chat{n:02d}", f"light{n:02d}") for n in range(20)]
    await _enqueue(db, light + [("H", f"h{n}") for n in range(6)])

    for _ in range(40):
        await worker.drain()
        if len(sender.calls) == 26:
            break
        clock.now += 0.25
    assert [t - 5000.0 for t, chat, _ in sender.calls if chat == "H"] == [0, 1, 2, 3, 4, 5]
    assert max(t for t, _, _ in sender.calls) - 5000.0 == 5.0
    assert sorted(text for _, chat, text in sender.calls if chat != "H") == [t for _, t in light]
    assert _max_in_window([t for t, _, _ in sender.calls]) <= 5


async def test_replies_whose_slot_is_far_off_go_back_in_order(sqlite_db: Database) -> None:
    db = sqlite_db
    clock = Clock()
    limiter = RateLimiter({"chat": Rule.per(1, 10.0)}, clock=clock)
    sender = ChatSender(clock)
    worker = _worker(db, sender, limiter, clock, max_wait=0.5)
    await _enqueue(db, [("A", f"a{n}") for n in range(1, 5)] + [("B", "b")])

    await worker.drain()
    assert sorted(text for _, _, text in sender.calls) == ["a1", "b"]
    # a2..a4 could not go within half a second (one per 10 s in a chat here): back in the
    # queue until shortly before their slot, no attempt counted.
    async with db.session() as session:
        pending = select(OutboxRow).where(OutboxRow.status == "pending")
        waiting = list(await session.scalars(pending))
    assert sorted(r.deliverable["text"] for r in waiting) == ["a2", "a3", "a4"]
    assert all(r.attempts == 0 and r.next_attempt_at > utcnow() for r in waiting)
    assert worker.held == 0

    # A newer reply to A, claimed while a2..a4 are still away, waits behind them.
    await _enqueue(db, [("A", "a5")], batch=1)
    await worker.drain()
    assert [text for _, _, text in sender.calls].count("a5") == 0
    for _ in range(8):
        clock.now += 10.0
        await _make_due(db)
        await worker.drain()
    assert [text for _, chat, text in sender.calls if chat == "A"] == [
        "a1",
        "a2",
        "a3",
        "a4",
        "a5",
    ]
    times = [t for t, chat, _ in sender.calls if chat == "A"]
    assert all(later - earlier >= 10.0 for earlier, later in itertools.pairwise(times))


async def test_two_nodes_never_send_the_same_reply(db: Database) -> None:
    clock = Clock()
    senders = [ChatSender(clock), ChatSender(clock)]
    nodes = [
        _worker(db, sender, RateLimiter({}, clock=clock), clock, node=f"n{n}", batch_size=4)
        for n, sender in enumerate(senders)
    ]
    await _enqueue(db, [(f"chat{n}", f"r{n}") for n in range(40)])
    await asyncio.gather(*(node.drain() for node in nodes))
    texts = Counter(text for sender in senders for _, _, text in sender.calls)
    assert texts == Counter({f"r{n}": 1 for n in range(40)})
    assert all(sender.calls for sender in senders)  # both nodes took part
    assert await _statuses(db) == Counter(sent=40)


class UploadingSender:
    """A reply whose text starts with "chart" is an upload, held to one a minute for the whole
    workspace; any other is a message. Records (time, thread, text) of each call."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.calls: list[tuple[float, str | None, str]] = []

    def plan(self, route: Route, deliverable: Deliverable) -> list[Op]:
        text = deliverable.text
        keys = [("chat", route.address)] + [("files", "ws")] * text.startswith("chart")
        return [Op("post", {"text": text}, tuple(keys))]

    async def perform(self, route: Route, op: Op) -> Receipt:
        self.calls.append((self.clock.now, route.thread, op.payload["text"]))
        return Receipt(provider_message_id=f"m{len(self.calls)}")


async def _enqueue_routed(
    db: Database, replies: list[tuple[Route, str]], *, batch: int = 0
) -> None:
    """Each (route, text) a reply of its own, written in the order given."""
    async with db.session() as session:
        ws = await directory.create_workspace(session, f"Acme {batch}")
    base = utcnow() - timedelta(minutes=1) + timedelta(seconds=batch)
    for n, (route, text) in enumerate(replies):
        async with db.session() as session:
            (row_id,) = enqueue(
                session,
                workspace_id=ws.id,
                route=route,
                deliverables=[Deliverable(text=text)],
                dedupe_prefix=f"r{batch}:{n}",
            )
            await session.flush()
            # Distinct, ordered creation times (the order the replies were written in).
            await session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == row_id)
                .values(created_at=base + timedelta(milliseconds=n))
            )


@pytest.mark.parametrize("channel", ["slack", "telegram"])
async def test_a_slack_thread_does_not_wait_behind_another_threads_upload(
    sqlite_db: Database, channel: str
) -> None:
    """Two charts then a message in thread 1, then a message in thread 2, all in one channel;
    uploads are held to one a minute. In Slack each thread is its own conversation: thread 2's
    message goes out at once, while thread 1's message keeps its place behind its second chart.
    In a Telegram chat the thread is only the message a reply quotes: the chat is one
    conversation, and thread 2's message waits its turn like the rest."""
    db = sqlite_db
    clock = Clock()
    limiter = RateLimiter({"files": Rule.per(1, 60.0)}, clock=clock)
    sender = UploadingSender(clock)
    worker = OutboxWorker(
        db,
        {channel: sender},  # type: ignore[dict-item]
        node_id="n1",
        metrics=Metrics(),
        rng=random.Random(5),
        limiter=limiter,
        clock=clock,
        max_wait=120.0,
    )

    def route(thread: str) -> Route:
        return Route(channel=channel, address="C1", thread=thread)  # type: ignore[arg-type]

    await _enqueue_routed(
        db,
        [
            (route("1"), "chart one"),
            (route("1"), "chart two"),
            (route("1"), "thread one's answer"),
            (route("2"), "thread two's answer"),
        ],
    )
    await worker.drain()
    clock.now += 0.5
    await worker.drain()
    first = [text for _, _, text in sender.calls]
    if channel == "slack":
        assert first == ["chart one", "thread two's answer"]
    else:
        assert first == ["chart one"]
    for _ in range(20):
        clock.now += 10.0
        await _make_due(db)  # rows put back for their slot wait on the wall clock
        await worker.drain()
        if len(sender.calls) == 4:
            break
    in_thread_one = [text for _, thread, text in sender.calls if thread == "1"]
    assert in_thread_one == ["chart one", "chart two", "thread one's answer"]
    assert len(sender.calls) == 4
    assert await _statuses(db) == Counter(sent=4)
