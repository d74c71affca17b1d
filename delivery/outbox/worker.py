"""The outbox worker: claims due replies, sends them in order per conversation, records them."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from operator import itemgetter

from config.failures import RepeatedFailure, pause
from config.logging import task_context
from config.metrics import Metrics
from delivery.errors import DeliveryError, PermanentError, Rerouted
from delivery.outbox import claims
from delivery.outbox.claims import ClaimedReply, PutBack, Reservation
from delivery.outbox.failures import RetryPolicy, record_failure, reroute
from delivery.outbox.in_doubt import confirm
from delivery.outbox.lanes import Conversation, Job, Parked, conversation_of
from delivery.outbox.receipts import SentRecorder, record_part
from delivery.ratelimit import Permit, RateKey, RateLimiter
from delivery.senders import Sender
from models.deliverable import Receipt
from storage.db import Database
from storage.types import utcnow

# The outbox's one logger, as before it became a package: log queries keep matching.
log = logging.getLogger("delivery.outbox")
# Seconds between looks for held rows whose slot moved away (a 429, a shared limit busier
# than hoped); rows arriving are looked at at once.
_CHECK_EVERY = 0.25
# Least seconds between two claims that new replies ask for: each claim is a query that
# sorts the due rows, and a busy pipeline commits replies many times a second.
_CLAIM_GAP = 0.1
# Replies named to `wake` waiting for their claim by id; beyond this the search takes them.
_MAX_WANTED = 1000


class OutboxWorker:
    """Claims due replies, sends them, and records receipts, retries or dead letters.

    Claimed rows (oldest first, leased to this node, at most MAX_HELD) wait in memory in one
    lane per conversation. Only a lane's first row makes calls, one at a time, so a
    conversation's replies go out in the order they were written. Whenever a call is answered
    or a rate-limit slot frees, every lane whose next call gets a permit for all its keys
    starts it; the others wait, holding nothing but memory, so one busy conversation never
    holds up another. Lanes competing for a shared key (a bot's 30 a second) take it oldest
    reply first, except that a conversation on the critical path (its own queue, at its own
    pace, takes longer than everything held at the shared pace) goes first: the drain then
    takes as long as the busiest limit requires, no longer.

    A row whose call could not start within MAX_WAIT (its conversation has more queued than
    its limit lets out in that time) goes back to the queue, without counting an attempt,
    until shortly before its slot; the conversation's newer rows wait behind it. Claiming
    and putting back talk to the database in one loop; starting calls is done from memory in
    another, so a slot is taken when it frees, not when a query returns.
    """

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
        max_held: int = 200,
        rng: random.Random | None = None,
        limiter: RateLimiter | None = None,
        max_wait: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._senders = senders
        self._node_id = node_id
        self._metrics = metrics
        self._retry = RetryPolicy(max_attempts, backoff_base, backoff_max, rng or random.Random())
        self._lease = timedelta(seconds=lease_seconds)
        # A row held longer than this without being sent goes back (and is claimed anew):
        # this node's lease on it must never run out while it still means to send it.
        self._hold_limit = lease_seconds / 2
        self._poll_interval = poll_interval
        self._batch_size = batch_size
        self._max_held = max(max_held, 1)
        # Claims are batched: under load a claim waits until this much room is free.
        self._claim_room = max(1, min(batch_size, self._max_held) // 2)
        # The limiter's times are compared with CLOCK's: a limiter given runs on it too.
        self._limiter = limiter or RateLimiter(clock=clock)
        self._max_wait = max_wait
        # A row put back for its slot returns this long before it, so it is claimed in time.
        self._lookahead = max_wait * 0.75
        self._clock = clock
        self._fed = asyncio.Event()  # room to claim, or new replies
        self._freed = asyncio.Event()  # a call was answered or rows arrived: dispatch
        self._stopping = False
        self._lanes: dict[Conversation, list[Job]] = {}
        self._busy: set[Conversation] = set()  # a call of the lane's first row is in flight
        self._held = 0
        self._calls: set[asyncio.Task[None]] = set()
        self._parked: dict[Conversation, Parked] = {}
        self._checked_at = -math.inf  # the last look for rows to put back
        self._returns: list[float] = []  # heap: when parked rows become due again
        self._recorder = SentRecorder(db, metrics)
        self._claim_at = -math.inf
        self._claimed_at = -math.inf
        self._wanted: set[str] = set()  # committed replies to claim by id
        # Searches asked for by `wake` so far: one asked while a claim is under way may be for
        # rows committed after it looked (see `feed`).
        self._searches = 0
        # Replies written already claimed by this node (`reserve`): counted from the
        # reservation until admitted, so the outbox never holds more than MAX_HELD.
        self._reserved = 0
        self._adopted: list[ClaimedReply] = []

    def wake(self, ids: Iterable[str] = ()) -> None:
        """New replies were committed: claim them soon. Replies named by IDS are claimed at
        once, by id (no search for due rows; what is committed while a claim is under way is
        claimed together next); others with the next search, at once unless one was made in
        the last CLAIM_GAP seconds (replies committed one by one are claimed together)."""
        if ids and len(self._wanted) < _MAX_WANTED:
            self._wanted.update(ids)
        else:
            self._claim_at = min(self._claim_at, self._claimed_at + _CLAIM_GAP)
            self._searches += 1
        self._fed.set()

    def reserve(self, count: int) -> Reservation | None:
        """Room for COUNT replies about to be committed, to be written already claimed by
        this node, so no claim is made for them (see `Reservation`). None when the outbox is
        stopping or has not the room: they are then written waiting, and named to `wake`."""
        if self._stopping or count <= 0 or self._load() + count > self._max_held:
            return None
        self._reserved += count
        columns = {
            "status": "sending",
            "claimed_by": self._node_id,
            "lease_until": utcnow() + self._lease,
        }
        return Reservation(count, columns, self._adopt, self._unreserve)

    def _adopt(self, replies: list[ClaimedReply]) -> None:
        self._adopted.extend(replies)
        self._fed.set()

    def _unreserve(self, count: int) -> None:
        self._reserved -= count

    def _load(self) -> int:
        """Rows held in memory, and reserved for replies about to be committed."""
        return self._held + self._reserved

    def stop(self) -> None:
        self._stopping = True
        self._fed.set()
        self._freed.set()

    @property
    def held(self) -> int:
        """Claimed rows in memory (sending or waiting for their slot)."""
        return self._held

    async def run(self) -> None:
        """Feed from the database and dispatch from memory, in two loops: a slot that frees
        while a claim or a write is waiting on the database is taken all the same."""
        dispatcher = asyncio.create_task(self._dispatch_loop(), name="outbox-dispatch")
        failures = RepeatedFailure(log, "the outbox's claim")
        try:
            while not self._stopping:
                self._fed.clear()
                try:
                    await self.feed()
                except Exception as exc:  # the database, say: the rows' leases run out
                    # Replies wanted meanwhile stay in `_wanted` for the next round.
                    await pause(failures.failed(exc), self._fed, lambda: self._stopping)
                    continue
                failures.succeeded()
                await self._idle()
        finally:
            dispatcher.cancel()  # it only ever waits between rounds
            await asyncio.gather(dispatcher, return_exceptions=True)
            # Calls already made are recorded; rows not started go back with `release`.
            if self._calls:
                await asyncio.gather(*self._calls, return_exceptions=True)
            await self._recorder.finish()

    async def _idle(self) -> None:
        timeout = self._poll_interval
        if self._room_to_claim():
            timeout = min(timeout, max(0.0, self._next_claim() - self._clock()))
        if timeout <= 0:
            await asyncio.sleep(0)
            return
        await _wait(self._fed, timeout)

    async def _dispatch_loop(self) -> None:
        while not self._stopping:
            self._freed.clear()
            delay = self._dispatch(self._clock())
            await _wait(self._freed, min(delay, self._poll_interval))

    def _next_claim(self) -> float:
        return min(self._claim_at, self._returns[0]) if self._returns else self._claim_at

    def _room_to_claim(self) -> bool:
        return self._max_held - self._load() >= self._claim_room

    async def feed(self) -> None:
        """Take the replies committed already claimed, claim what is due if there is room,
        and put back what cannot go soon."""
        if self._adopted:
            adopted, self._adopted = self._adopted, []
            self._reserved -= len(adopted)
            await self._admit(adopted, self._clock())
            self._freed.set()
        now = self._clock()
        if self._wanted and self._load() < self._max_held:
            room = min(len(self._wanted), self._batch_size, self._max_held - self._load())
            ids = [self._wanted.pop() for _ in range(room)]
            claimed = await self.claim_due(len(ids), ids=ids)
            await self._admit(claimed, self._clock())
            self._freed.set()
            now = self._clock()
        if now >= self._next_claim() and self._room_to_claim():
            limit = min(self._batch_size, self._max_held - self._load())
            searches = self._searches
            claimed = await self.claim_due(limit)
            now = self._claimed_at = self._clock()
            self._claim_at = now if len(claimed) >= limit else now + self._poll_interval
            if self._searches != searches:
                # Woken while the claim was under way: what was committed then may not have
                # been seen by it, and would otherwise wait for the next poll.
                self._claim_at = min(self._claim_at, now + _CLAIM_GAP)
            while self._returns and self._returns[0] <= now:
                heapq.heappop(self._returns)
            self._forget_stale_parked(now)
            await self._admit(claimed, now)
            self._freed.set()
            if claimed:
                self._checked_at = -math.inf
        now = self._clock()
        if now - self._checked_at >= _CHECK_EVERY:
            self._checked_at = now
            await self._send_back(now)

    async def drain(self) -> int:
        """Claim what is due and make every call whose slot is free, until none is left to
        start now (for tests, with a controlled clock). Returns how many calls were made."""
        made = 0
        while True:
            self._claim_at = self._checked_at = -math.inf
            await self.feed()
            self._dispatch(self._clock())
            if not self._calls:
                return made
            made += len(self._calls)
            await asyncio.gather(*list(self._calls))

    async def claim_due(
        self, limit: int | None = None, *, ids: Collection[str] = ()
    ) -> list[ClaimedReply]:
        """Claim replies whose time has come, or whose claim outlived its lease, oldest first;
        with IDS, those of them still waiting (just committed: no search, no sort)."""
        return await claims.claim_due(
            self._db,
            node_id=self._node_id,
            lease=self._lease,
            limit=limit or self._batch_size,
            ids=ids,
        )

    async def _admit(self, claimed: list[ClaimedReply], now: float) -> None:
        """Plan each claimed reply's calls and queue it in its conversation's lane."""
        for reply in claimed:
            conversation = conversation_of(reply.route)
            parked = self._parked.get(conversation)
            if parked is not None:
                parked.remove(reply.id)
                if not parked.rows:
                    del self._parked[conversation]
            sender = self._senders.get(reply.route.channel)
            try:
                if sender is None:
                    raise PermanentError(f"no sender for channel {reply.route.channel!r}")
                ops = [
                    replace(op, ref=f"{reply.id}:{n}")
                    for n, op in enumerate(sender.plan(reply.route, reply.deliverable))
                ]
            except Exception as exc:  # the plan failed: recorded as the row's failure
                await self._guarded(self._fail(reply, exc, reply.parts_sent, reply.in_doubt))
                continue
            if reply.parts_sent >= len(ops):  # every part went out; only the record was lost
                await self._guarded(self._recorder.record(reply, Receipt(), reply.parts_sent))
                continue
            paces = [
                (self._limiter.spacing(op.rate_keys), self._limiter.shared_spacing(op.rate_keys))
                for op in ops
            ]
            job = Job(reply, sender, ops, now, reply.parts_sent, paces)
            lane = self._lanes.setdefault(conversation, [])
            at = len(lane)
            first = 1 if conversation in self._busy else 0
            while at > first and lane[at - 1].order > job.order:
                at -= 1
            lane.insert(at, job)
            self._held += 1

    def _forget_stale_parked(self, now: float) -> None:
        """Rows put back that another node took (or an admin replayed) never return here."""
        stale = now - self._hold_limit * 2
        for conversation in [
            c
            for c, parked in self._parked.items()
            if all(slot < stale for _, slot in parked.rows.values())
        ]:
            del self._parked[conversation]

    async def _send_back(self, now: float) -> None:
        """Put back in the queue every row whose next call cannot start within MAX_WAIT (for
        when it can), and rows held too long; newer rows of their conversation follow them."""
        back: list[tuple[Job, float]] = []
        for conversation, lane in list(self._lanes.items()):
            first = 1 if conversation in self._busy else 0
            if len(lane) <= first:
                continue
            slots = self._slots(conversation, lane, first)
            for index in range(first, len(lane)):
                job = lane[index]
                if slots[index] - now > self._max_wait or now - job.claimed_at > self._hold_limit:
                    back.extend(zip(lane[index:], slots[index:], strict=True))
                    del lane[index:]
                    break
            if not lane:
                del self._lanes[conversation]
        if not back:
            return
        self._held -= len(back)
        wall = utcnow()
        for job, slot in back:
            self._parked.setdefault(job.conversation, Parked()).add(job, slot)
            heapq.heappush(self._returns, slot - self._lookahead)
        await self._guarded(self._defer(back, now, wall))

    def _slots(self, conversation: Conversation, lane: list[Job], first: int) -> list[float]:
        """When each row of a lane can expect its next call to start (monotonic time): one
        after another at the conversation's pace, and after the rows put back before it."""
        head = lane[0]
        spacing = self._limiter.spacing(head.keys)
        # While the head's call is in flight, `free_at` is already its successor's slot.
        at = self._limiter.free_at(head.keys) + (head.calls_left - 1 if first else 0) * spacing
        parked = self._parked.get(conversation)
        slots = [at] * first
        for job in lane[first:]:
            if parked is not None and (before := parked.slot_before(job.order)) is not None:
                at = max(at, before + spacing)
            slots.append(at)
            at += job.calls_left * spacing
        return slots

    def _dispatch(self, now: float) -> float:
        """Start the next call of every lane whose keys all have a free slot; returns the
        seconds until the soonest of the others could start."""
        heads = []
        soonest = math.inf
        # Keys already full as the round starts, with when they free (None: free). A head
        # on one of them cannot start this round whatever goes before it (a call started
        # only fills a key more), so it is not sorted and tried: with a backlog of paced
        # calls (a workspace's uploads, say) most lanes wait on the same few keys. A head
        # found waiting is passed over by the next rounds, until then, at the cost of one
        # comparison (`Job.waits`).
        start_full: dict[RateKey, float | None] = {}
        limiter = self._limiter
        for conversation, lane in self._lanes.items():
            if conversation in self._busy:
                continue
            head = lane[0]
            part, until = head.waits
            if part == head.parts_sent and until > now:
                if until < soonest:
                    soonest = until
                continue
            parked = self._parked.get(conversation)
            if parked is not None and parked.oldest is not None and parked.oldest < head.order:
                continue  # an older reply of this conversation comes back first
            until = -math.inf
            for key in head.keys:
                if key in start_full:
                    at = start_full[key]
                else:
                    at = start_full[key] = limiter.frees_at(key, now)
                if at is not None and at > until:
                    until = at
            if until > -math.inf:
                head.waits = (head.parts_sent, until)
                soonest = min(soonest, until)
                continue
            # A conversation whose queue takes longer at its own pace (1 a second in a chat)
            # than everything held here takes at the shared pace (a bot's 30 a second) is on
            # the critical path: a shared slot it loses lengthens the whole drain, one the
            # others lose does not. It goes first; the rest oldest first.
            pace, shared = head.paces[head.parts_sent]
            backlog = len(lane) + (len(parked.rows) if parked is not None else 0)
            heads.append((backlog * pace <= self._held * shared, head.order, head))
        heads.sort(key=itemgetter(0, 1))
        full: dict[RateKey, float] = {}  # keys without a free slot this round: when they free
        for _, _, job in heads:
            keys = job.keys
            if any(key in full for key in keys):
                soonest = min(soonest, max(full[key] for key in keys if key in full))
                continue
            permit = self._limiter.acquire(keys)
            if permit is None:
                blocking = self._limiter.full(keys)
                full.update(blocking)
                soonest = min(soonest, max(blocking.values(), default=now))
                continue
            self._busy.add(job.conversation)
            task = asyncio.create_task(self._call(job, permit))
            self._calls.add(task)
            task.add_done_callback(self._calls.discard)
        return max(0.0, soonest - now)

    async def _call(self, job: Job, permit: Permit) -> None:
        """Make the job's next call and record its outcome; the job leaves memory unless it
        has more calls to make."""
        with task_context(job.reply.task_id):  # its log lines name the task it answers
            await self._call_once(job, permit)

    async def _call_once(self, job: Job, permit: Permit) -> None:
        reply = job.reply
        done = True
        try:
            op = job.ops[job.parts_sent]
            try:
                try:
                    receipt = None
                    if job.in_doubt:
                        receipt = await confirm(self._db, self._metrics, job, op)
                        job.in_doubt = False
                    if receipt is None:
                        receipt = await job.sender.perform(reply.route, op)
                finally:
                    self._limiter.release(permit)
            except DeliveryError as exc:
                if exc.retry_after is not None:
                    self._limiter.penalize(op.rate_keys, exc.retry_after)
                    self._checked_at = -math.inf  # the conversation's rows may have to go back
                raise
            except Exception as exc:  # an SDK error nobody mapped: retry, and log the traceback
                log.exception("unmapped delivery error on outbox row %s", reply.id)
                raise DeliveryError(f"{type(exc).__name__}: {exc}", maybe_sent=True) from exc
            # The job's count moves on once recorded: until then the call is still its own
            # (and its lane's) in flight.
            sent = job.parts_sent + 1
            if sent < len(job.ops):
                await record_part(self._db, reply, sent - 1, receipt)
                done = False
            else:
                await self._recorder.record(reply, receipt, sent)
            job.parts_sent = sent
        except DeliveryError as exc:
            await self._guarded(
                self._fail(reply, exc, job.parts_sent, job.in_doubt or exc.maybe_sent)
            )
        except Exception:
            # Recording the outcome failed (the database, say): the row's lease runs out and
            # it is tried again; the worker itself keeps going.
            log.exception("outbox delivery crashed on row %s", reply.id)
            done = True
        finally:
            conversation = job.conversation
            self._busy.discard(conversation)
            if done:
                lane = self._lanes.get(conversation)
                if lane and lane[0] is job:
                    lane.pop(0)
                    self._held -= 1
                    if not lane:
                        del self._lanes[conversation]
            self._freed.set()
            self._fed.set()

    async def _guarded(self, recording: Awaitable[None]) -> None:
        try:
            await recording
        except Exception:
            log.exception("outbox could not record an outcome; the row's lease will run out")

    async def _fail(
        self, reply: ClaimedReply, exc: BaseException, parts_sent: int, in_doubt: bool
    ) -> None:
        if isinstance(exc, Rerouted):
            await reroute(self._db, self._metrics, reply, exc)
            self.wake()
        elif isinstance(exc, DeliveryError):
            await record_failure(
                self._db, self._metrics, self._retry, reply, exc, parts_sent, in_doubt
            )
        else:
            log.error("could not plan outbox row %s", reply.id, exc_info=exc)
            await record_failure(
                self._db,
                self._metrics,
                self._retry,
                reply,
                DeliveryError(f"{type(exc).__name__}: {exc}"),
                parts_sent,
                in_doubt,
            )

    async def _defer(self, back: list[tuple[Job, float]], now: float, wall: datetime) -> None:
        """Rate limit: back in the queue shortly before their slot, no attempt counted."""
        await claims.put_back(
            self._db,
            [
                PutBack(
                    job.reply.id,
                    job.parts_sent,
                    job.in_doubt,
                    wall + timedelta(seconds=max(0.0, slot - self._lookahead - now)),
                )
                for job, slot in back
            ],
        )
        for job, _ in back:
            self._metrics.outbox_sent.labels(job.reply.route.channel, "deferred").inc()

    async def release(self) -> None:
        """On shutdown: hand back rows this node claimed but did not finish."""
        await claims.release(self._db, self._node_id)


async def _wait(event: asyncio.Event, seconds: float) -> None:
    """Until EVENT is set or SECONDS pass. `asyncio.timeout` cancels this task when
    the time is up; `asyncio.wait_for` (Python 3.11) would run the wait in a task of its own,
    and the outbox's two loops wait some four times a reply: 8 µs of CPU a wait against 18."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
