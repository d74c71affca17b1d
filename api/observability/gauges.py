"""Gauges read at scrape time: queued tasks, the outbox backlog, dead letters, replies in doubt
and scheduler leadership.

The queue gauges count rows in the database rather than being kept by the worker loops: the
queues are shared by every node, so a count is the truth for the whole cluster (a loop knows
only what its own node did, and a restart would zero it). Two grouped `count(*)`s on indexed
status columns are cheap, and the result is kept for `ttl` seconds so a burst of scrapes (or
several Prometheus servers) costs one query per interval; concurrent scrapes share the query
in flight. They stay custom collectors, not prometheus_client gauges, under a supervisor of
several processes too: the process that answers a scrape counts once (summed over the
processes, the counts would be multiplied).

Leadership is this process's own state. A process alone reads it live at each scrape; one of
several processes (prometheus_client's multiprocess mode, see `config.metrics`) writes it to its
metric file instead (`publish`, at each scrape and every second or so from `cli.processes`),
and `/metrics` sums it over the live processes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import Gauge
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select
from sqlalchemy.exc import SQLAlchemyError

from config.metrics import multiprocess_dir
from storage.db import Database
from storage.models import OutboxRow, TaskRow

log = logging.getLogger(__name__)

# Outbox rows still to deliver; `dead` ones gave up (dead letters, retried by an operator).
BACKLOG_STATES = ("pending", "sending")
DEAD = "dead"

LEADER = "switchboard_scheduler_leader"
LEADER_HELP = "1 on the node that runs the scheduler (holds its lock), 0 elsewhere"


@dataclass(frozen=True)
class QueueCounts:
    tasks_queued: int = 0
    tasks_running: int = 0
    outbox_backlog: int = 0
    outbox_dead: int = 0
    outbox_in_doubt: int = 0


async def count_queues(db: Database) -> QueueCounts:
    """The queue sizes, from two grouped counts."""
    tasks = TaskRow.__table__.c
    outbox = OutboxRow.__table__.c
    async with db.session() as session:
        task_rows = await session.execute(
            select(tasks.status, func.count())
            .where(tasks.status.in_(("queued", "running")))
            .group_by(tasks.status)
        )
        by_task_status = {str(status): int(total) for status, total in task_rows}
        outbox_rows = await session.execute(
            select(outbox.status, func.count(), func.sum(case((outbox.in_doubt, 1), else_=0)))
            .where(outbox.status.in_((*BACKLOG_STATES, DEAD)))
            .group_by(outbox.status)
        )
        by_outbox_status = {
            str(status): (int(total), int(doubt or 0)) for status, total, doubt in outbox_rows
        }
    return QueueCounts(
        tasks_queued=int(by_task_status.get("queued", 0)),
        tasks_running=int(by_task_status.get("running", 0)),
        outbox_backlog=sum(by_outbox_status.get(s, (0, 0))[0] for s in BACKLOG_STATES),
        outbox_dead=by_outbox_status.get(DEAD, (0, 0))[0],
        outbox_in_doubt=sum(doubt for _total, doubt in by_outbox_status.values()),
    )


class GatewayGauges(Collector):
    """A prometheus_client collector; `await refresh()` before rendering the registry (its
    `collect` is synchronous and only reads what the last refresh counted)."""

    def __init__(
        self,
        db: Database,
        leads: Callable[[], bool],
        *,
        ttl: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._leads = leads
        self._ttl = ttl
        self._clock = clock
        self._counts: QueueCounts | None = None
        self._counted_at = -float("inf")
        self._lock = asyncio.Lock()
        self.queries = 0  # how many times the database was asked (tests check the cache)
        # One of several processes: "livesum", so `/metrics` says how many of the live
        # processes lead (1, or 0 while none does), never a dead process's claim.
        self._leader = (
            Gauge(LEADER, LEADER_HELP, registry=None, multiprocess_mode="livesum")
            if multiprocess_dir() is not None
            else None
        )

    def publish(self) -> None:
        """Write this process's leadership to its metric file (one of several processes;
        nothing to do alone, `collect` reads it live)."""
        if self._leader is not None:
            self._leader.set(1 if self._leads() else 0)

    async def refresh(self) -> None:
        """Count again unless the last count is younger than the TTL. A database error is
        logged and leaves the queue gauges out of this scrape (absent, not a stale number)."""
        self.publish()
        if self._clock() - self._counted_at < self._ttl:
            return
        async with self._lock:
            if self._clock() - self._counted_at < self._ttl:
                return  # another scrape counted while this one waited
            self.queries += 1
            try:
                self._counts = await count_queues(self._db)
            except (SQLAlchemyError, OSError) as exc:
                log.warning("metrics: the queues could not be counted: %s", type(exc).__name__)
                self._counts = None
            self._counted_at = self._clock()

    def collect(self) -> Iterator[Metric]:
        if self._leader is None:  # else it is in the metric files
            yield GaugeMetricFamily(LEADER, LEADER_HELP, value=1 if self._leads() else 0)
        counts = self._counts
        if counts is None:
            return
        for name, doc, value in (
            ("tasks_queued", "Tasks committed and waiting for a worker", counts.tasks_queued),
            ("tasks_running", "Tasks a worker has claimed", counts.tasks_running),
            (
                "outbox_backlog",
                "Replies waiting for delivery (pending or being sent)",
                counts.outbox_backlog,
            ),
            ("outbox_dead", "Dead letters: replies the outbox gave up on", counts.outbox_dead),
            (
                "outbox_in_doubt",
                "Replies whose last call may have reached the provider unrecorded "
                "(asked about before any retry; dead ones need a person to check)",
                counts.outbox_in_doubt,
            ),
        ):
            yield GaugeMetricFamily(f"switchboard_{name}", doc, value=value)
