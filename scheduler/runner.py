"""The scheduler: schedules from the database, fired as briefing Tasks into the inbound journal.

A thin wrapper, like python-telegram-bot's JobQueue: firing a schedule only appends a
`Task(kind="briefing")` whose dedupe key names the schedule and the fire time; the pipeline
builds the briefing and the outbox delivers it. A second fire of the same occurrence (a restart
between the append and the bookkeeping, or two nodes for a moment) is the same journal row.

Only the leader (see `scheduler.leader`) keeps the schedules in memory: a heap of due times,
computed with APScheduler's triggers (`core.schedules.timing`). Changes made after start-up are
picked up by polling `schedules.updated_at` every few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar, cast

from sqlalchemy import Table, bindparam, func, select, update

from config.failures import RepeatedFailure
from core.schedules.timing import Timing, next_fire, plan
from models.task import Briefing, Route, Sender, Task
from scheduler.leader import Leadership, SingleNode
from storage.db import Database
from storage.domain import Schedule
from storage.journal import Accepted, JournalClosed
from storage.types import new_id, utcnow

log = logging.getLogger(__name__)
_s = cast(Table, Schedule.__table__)
_T = TypeVar("_T")

# Rows whose `updated_at` is this close to the newest one seen are read again on every poll:
# a transaction that stamped its row earlier may commit later, and nodes' clocks differ.
CHANGE_MARGIN = timedelta(minutes=5)
HOUSEKEEPING_EVERY = timedelta(days=1)
ROUND_EVERY = timedelta(minutes=1)  # members' availability follows their work schedules
_CHUNK = 500
_SECOND = timedelta(seconds=1)
_TIMING_COLUMNS = (
    _s.c.id,
    _s.c.active,
    _s.c.frequency,
    _s.c.days,
    _s.c.time,
    _s.c.timezone,
    _s.c.day_of_month,
    _s.c.one_off_at,
    _s.c.last_run_at,
    _s.c.next_run_at,
    _s.c.created_at,
    _s.c.updated_at,
)
BRIEFING_TITLES = {
    "daily_inbox_summary": "Daily inbox summary",
    "weekly_performance_digest": "Weekly performance digest",
    "weekly_knowledge_gaps": "Weekly knowledge gaps",
    "monthly_roi": "Monthly ROI",
    "training_follow_up": "Training follow-up",
    "report": "Scheduled report",
    "bulk_action": "Scheduled action",
}


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return utcnow()


Append = Callable[[Task], Awaitable[Accepted]]
Housekeeping = Callable[[datetime], Awaitable[None]]


@dataclass(slots=True)
class _Entry:
    timing: Timing
    due: datetime | None


def reply_route(channel: str, address: str) -> Route:
    """Where a schedule's briefing goes; WhatsApp routes carry Twilio's `whatsapp:` prefix."""
    if channel == "whatsapp" and not address.startswith("whatsapp:"):
        address = f"whatsapp:{address}"
    return Route(channel=channel, address=address)  # type: ignore[arg-type]


def briefing_task(row: Any, fire_at: datetime, fired_at: datetime) -> Task:
    """The Task one occurrence of a schedule becomes; its dedupe key is the occurrence."""
    return Task(
        id=new_id(),
        workspace_id=row.workspace_id,
        channel="schedule",
        external_id=f"schedule:{row.id}:{fire_at.isoformat()}",
        sender=Sender(channel="schedule", address=row.member_id),
        conversation=f"schedule:{row.id}",
        text=BRIEFING_TITLES.get(row.briefing_type, row.briefing_type),
        received_at=fire_at,
        reply_route=reply_route(row.channel, row.address),
        kind="briefing",
        briefing=Briefing(type=row.briefing_type, params=row.params or {}),
        raw={
            "schedule_id": row.id,
            "agent_id": row.agent_id,
            "fire_at": fire_at.isoformat(),
            "fired_at": fired_at.isoformat(),
        },
    )


class BriefingScheduler:
    """Runs the schedules while this node leads; `start`/`close` in the composition root.

    `load` and `tick` are the steps `run` repeats; tests call them with a controlled clock."""

    def __init__(
        self,
        db: Database,
        append: Append,
        *,
        leadership: Leadership | None = None,
        clock: Clock | None = None,
        grace: timedelta = timedelta(hours=1),
        poll_interval: float = 5.0,
        housekeeping: Housekeeping | None = None,
        every_tick: Housekeeping | None = None,
        availability: Housekeeping | None = None,
        on_fired: Callable[[int, int], None] | None = None,
    ) -> None:
        self._db = db
        self._append = append
        self._leadership = leadership or SingleNode()
        self._clock = clock or SystemClock()
        self._grace = grace
        self._poll = poll_interval
        self._housekeeping = housekeeping
        self._every_tick = every_tick
        self._availability = availability
        self._next_round: datetime | None = None
        self._on_fired = on_fired
        self._entries: dict[int, _Entry] = {}
        self._heap: list[tuple[datetime, int]] = []
        self._watermark: datetime | None = None
        self._next_housekeeping: datetime | None = None
        self._timings: dict[Timing, Timing] = {}
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self.is_leader = False
        self.fired = 0  # occurrences this node appended (new journal rows)

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="scheduler")

    async def close(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Stop, finish the tick in progress and give up the lead."""
        self.stop()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def stop(self) -> None:
        self._stopping = True
        self._wakeup.set()

    def wake(self) -> None:
        """Poll for changes now (an approval just created or changed a schedule)."""
        self._wakeup.set()

    async def run(self) -> None:
        """Try to lead every poll interval; while leading, fire what is due."""
        failures = RepeatedFailure(log, "the scheduler", first=self._poll)
        while not self._stopping:
            try:
                if await self._leadership.acquire():
                    await self._lead()
                failures.succeeded()
            except Exception as exc:  # the scheduler's error boundary: log, step down, retry
                failures.failed(exc)
            finally:
                if self.is_leader:
                    self.is_leader = False
                    self._forget()
                    await self._leadership.release()
            if not self._stopping:
                await self._sleep(self._poll)

    async def _lead(self) -> None:
        self.is_leader = True
        log.info("this node runs the scheduler")
        await self.load()
        while not self._stopping:
            await self.tick()
            await self._sleep(self._pause())
            if not self._stopping and not await self._leadership.held():
                log.warning("lost the scheduler lock; another node takes over")
                return

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), max(seconds, 0.0))
        self._wakeup.clear()

    def _pause(self) -> float:
        """Until the next due time (by the clock), at most one poll interval."""
        if not self._heap:
            return self._poll
        wait = (self._heap[0][0] - self._clock.now()).total_seconds()
        return min(max(wait, 0.0), self._poll)

    def _forget(self) -> None:
        self._entries.clear()
        self._heap.clear()
        self._timings.clear()
        self._watermark = None
        self._next_housekeeping = None
        self._next_round = None

    # --- the steps ------------------------------------------------------------------------

    async def load(self) -> int:
        """Read every active schedule and plan it; returns how many are planned.

        A fire time missed while no node ran the scheduler (since the last one sent, or since
        the schedule was created) is due at once if it is within the grace period."""
        self._forget()
        now = self._clock.now()
        moved: list[dict[str, Any]] = []
        expired: list[int] = []
        async with self._db.session() as session:
            self._watermark = await session.scalar(select(func.max(_s.c.updated_at)))
            result = await session.stream(
                select(*_TIMING_COLUMNS).where(_s.c.active.is_(True)).order_by(_s.c.id)
            )
            memo: dict[tuple[Timing, datetime], datetime | None] = {}
            async for part in result.partitions(5000):
                for row in part:
                    due = self._plan(row, now, catch_up=True, memo=memo)
                    if due is None and row.one_off_at is not None:
                        expired.append(row.id)
                    elif due != row.next_run_at and (due is None or due > now):
                        moved.append({"sid": row.id, "next": due})
        await self._record_next(moved)
        if expired:
            log.warning("one-off schedules %s were missed beyond the grace period", expired)
            await self._deactivate(expired)
        log.info("scheduler loaded %d schedules", len(self._entries))
        return len(self._entries)

    async def tick(self) -> int:
        """Pick up changed schedules, fire what is due, run EVERY_TICK (snoozed assists whose
        time came), the availability round once a minute, and tidy up once a day; returns how
        many occurrences were appended to the journal."""
        now = self._clock.now()
        await self._poll_changes(now)
        fired = await self._fire_due(now)
        if self._every_tick is not None:
            await self._every_tick(now)
        if self._housekeeping is not None and (
            self._next_housekeeping is None or now >= self._next_housekeeping
        ):
            self._next_housekeeping = now + HOUSEKEEPING_EVERY
            await self._housekeeping(now)
        if self._availability is not None and (self._next_round is None or now >= self._next_round):
            self._next_round = now + ROUND_EVERY
            try:
                await self._availability(now)
            except Exception:
                log.exception("the availability round failed; it runs again in a minute")
        return fired

    @property
    def planned(self) -> int:
        """How many schedules this node has planned (0 while it does not lead)."""
        return len(self._entries)

    def next_due(self) -> datetime | None:
        """The earliest planned fire time (for tests and logs)."""
        live = [at for at, sid in self._heap if self._entries.get(sid, _NONE).due == at]
        return min(live, default=None)

    # --- planning -------------------------------------------------------------------------

    def _plan(
        self,
        row: Any,
        now: datetime,
        *,
        catch_up: bool,
        memo: dict[tuple[Timing, datetime], datetime | None] | None = None,
    ) -> datetime | None:
        """Plan ROW's next fire time. MEMO (at load) shares the answer between schedules with
        the same timing: before the grace period, when they were last sent makes no difference."""
        timing = Timing.of(row)
        since = max(row.last_run_at or row.created_at, now - self._grace - _SECOND)
        if memo is not None:  # equal timings share one object: 100,000 schedules, few timings
            timing = self._timings.setdefault(timing, timing)
        key = (timing, since)
        try:
            if memo is not None and key in memo:
                due = memo[key]
            elif catch_up:
                missed, upcoming = plan(timing, since=since, now=now, grace=self._grace)
                due = missed or upcoming
                if memo is not None:
                    memo[key] = due
            else:  # a live edit: from now on, nothing retroactive
                due = next_fire(timing, max(now, since))
        except ValueError:
            log.warning("schedule %s has an unusable timing %r; skipped", row.id, timing)
            due = None
        self._entries[row.id] = _Entry(timing, due)
        if due is not None:
            heapq.heappush(self._heap, (due, row.id))
        return due

    async def _poll_changes(self, now: datetime) -> None:
        query = select(*_TIMING_COLUMNS)
        if self._watermark is not None:
            query = query.where(_s.c.updated_at >= self._watermark - CHANGE_MARGIN)
        else:
            query = query.where(_s.c.updated_at.is_not(None))
        async with self._db.session() as session:
            rows = (await session.execute(query)).all()
        for row in rows:
            if row.updated_at is not None and (
                self._watermark is None or row.updated_at > self._watermark
            ):
                self._watermark = row.updated_at
            current = self._entries.get(row.id)
            if not row.active:
                self._entries.pop(row.id, None)
                continue
            if current is not None and current.timing == Timing.of(row):
                continue
            # New (or switched back on): its creation counts as "since", so one approved just
            # before its first time still fires. Edited: the new timing applies from now on.
            self._plan(row, now, catch_up=current is None)

    # --- firing ---------------------------------------------------------------------------

    async def _fire_due(self, now: datetime) -> int:
        due: list[int] = []
        while self._heap and self._heap[0][0] <= now:
            at, sid = heapq.heappop(self._heap)
            entry = self._entries.get(sid)
            if entry is not None and entry.due == at:
                due.append(sid)
        fired = 0
        for chunk in _chunks(due, _CHUNK):
            fired += await self._fire(chunk, now)
        return fired

    async def _fire(self, ids: Sequence[int], now: datetime) -> int:
        """Re-read the due rows (they may have changed or gone), append one task per
        occurrence, then record the run. The journal's dedupe makes a repeat harmless."""
        async with self._db.session() as session:
            rows = (await session.execute(select(_s).where(_s.c.id.in_(ids)))).all()
        found = {row.id for row in rows}
        for gone in set(ids) - found:
            self._entries.pop(gone, None)
        tasks: list[Task] = []
        recurring: list[dict[str, Any]] = []
        finished: list[dict[str, Any]] = []
        for row in rows:
            if not row.active:
                self._entries.pop(row.id, None)
                continue
            timing = Timing.of(row)
            missed, upcoming = plan(
                timing, since=row.last_run_at or row.created_at, now=now, grace=self._grace
            )
            self._entries[row.id] = _Entry(timing, upcoming)
            if upcoming is not None:
                heapq.heappush(self._heap, (upcoming, row.id))
            if missed is None or not row.channel or not row.address:
                if missed is not None:
                    log.warning("schedule %s has no channel or address; not sent", row.id)
                recurring.append({"sid": row.id, "last": row.last_run_at, "next": upcoming})
                continue
            tasks.append(briefing_task(row, missed, now))
            if timing.frequency == "once":
                finished.append({"sid": row.id, "last": missed})
                self._entries.pop(row.id, None)
            else:
                recurring.append({"sid": row.id, "last": missed, "next": upcoming})
        try:
            accepted = await asyncio.gather(*(self._append(task) for task in tasks))
        except JournalClosed:
            log.info("the journal closed while firing; the next leader sends these")
            return 0
        created = sum(a.created for a in accepted)
        self.fired += created
        if self._on_fired is not None and tasks:
            self._on_fired(created, len(accepted) - created)
        async with self._db.session() as session:
            if recurring:
                await session.execute(
                    update(_s)
                    .where(_s.c.id == bindparam("sid"))
                    .values(
                        last_run_at=bindparam("last"),
                        next_run_at=bindparam("next"),
                        updated_at=_s.c.updated_at,  # bookkeeping is not a change to poll
                    ),
                    recurring,
                )
            if finished:
                await session.execute(
                    update(_s)
                    .where(_s.c.id == bindparam("sid"))
                    .values(
                        last_run_at=bindparam("last"),
                        next_run_at=None,
                        active=False,
                        updated_at=_s.c.updated_at,
                    ),
                    finished,
                )
        return created

    async def _record_next(self, moved: list[dict[str, Any]]) -> None:
        for chunk in _chunks(moved, 5000):
            async with self._db.session() as session:
                await session.execute(
                    update(_s)
                    .where(_s.c.id == bindparam("sid"))
                    .values(next_run_at=bindparam("next"), updated_at=_s.c.updated_at),
                    chunk,
                )

    async def _deactivate(self, ids: list[int]) -> None:
        async with self._db.session() as session:
            await session.execute(
                update(_s)
                .where(_s.c.id.in_(ids))
                .values(active=False, next_run_at=None, updated_at=_s.c.updated_at)
            )


_NONE = _Entry(Timing("daily", "00:00", "UTC"), None)


def _chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
