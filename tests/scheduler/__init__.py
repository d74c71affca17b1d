"""Scheduler tests: a controlled clock, the journal, and what a briefing task turns into."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from core.classify.backend import OfflineBackend
from core.processing.pipeline import Outcome, TaskProcessor, row_to_task
from core.tools.catalogue import default_registry
from models.task import Task
from scheduler.leader import Leadership
from scheduler.runner import BriefingScheduler, briefing_task
from storage.db import Database
from storage.domain import Schedule
from storage.journal import TaskJournal
from storage.models import TaskRow

GRACE = timedelta(hours=1)


@dataclass
class FakeClock:
    """The scheduler's clock, moved by the test: no real waiting for a fire time."""

    current: datetime
    moves: list[datetime] = field(default_factory=list)

    def now(self) -> datetime:
        return self.current

    def set(self, when: datetime) -> None:
        self.current = when
        self.moves.append(when)


@asynccontextmanager
async def running_journal(db: Database) -> AsyncIterator[TaskJournal]:
    journal = TaskJournal(db)
    await journal.start()
    try:
        yield journal
    finally:
        await journal.close()


def make_scheduler(
    db: Database,
    journal: TaskJournal,
    clock: FakeClock,
    *,
    leadership: Leadership | None = None,
    poll_interval: float = 0.05,
    grace: timedelta = GRACE,
    **kw: Any,
) -> BriefingScheduler:
    return BriefingScheduler(
        db,
        journal.append,
        leadership=leadership,
        clock=clock,
        grace=grace,
        poll_interval=poll_interval,
        **kw,
    )


async def briefing_rows(db: Database, schedule_id: int | None = None) -> list[TaskRow]:
    """The briefing tasks in the journal (of one schedule), in fire-time order."""
    query = select(TaskRow).where(TaskRow.kind == "briefing")
    if schedule_id is not None:
        query = query.where(TaskRow.conversation == f"schedule:{schedule_id}")
    async with db.session() as session:
        return list(await session.scalars(query.order_by(TaskRow.received_at)))


async def process_briefing(db: Database, fired: TaskRow | Task) -> Outcome:
    """What the pipeline makes of a fired briefing task (processed as a worker would)."""
    task = fired if isinstance(fired, Task) else row_to_task(fired)
    processor = TaskProcessor(OfflineBackend(), default_registry())
    async with db.session() as session:
        return await processor.process(session, task, task.received_at)


async def fire(db: Database, schedule_id: int, at: datetime) -> Outcome:
    """Process the occurrence of a schedule at AT, without a scheduler or a journal row."""
    async with db.session() as session:
        row = await session.get(Schedule, schedule_id)
        assert row is not None
    return await process_briefing(db, briefing_task(row, at, at))
