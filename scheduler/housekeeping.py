"""What the scheduler's leader runs besides briefings: the daily clean-up (expired session
memory and media files) and, on every tick, the wake-up of snoozed assists whose time came."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from core.assists.snooze import wake_due
from core.llm.memory import prune_expired
from delivery.media import MediaStore
from storage.db import Database

log = logging.getLogger(__name__)


class Housekeeping:
    """Called once a day (and when a node starts leading) with the scheduler's clock."""

    def __init__(
        self,
        db: Database,
        media: MediaStore,
        lines: Callable[[datetime], Awaitable[None]] | None = None,
    ) -> None:
        self._db = db
        self._media = media
        self._lines = lines  # the telephony lines' upkeep (scheduler/lines.py)

    async def __call__(self, now: datetime) -> None:
        async with self._db.session() as session:
            memories = await prune_expired(session, now)
        files = await self._media.prune()
        log.info("housekeeping: %d session messages and %d media files expired", memories, files)
        if self._lines is not None:
            try:
                await self._lines(now)
            except Exception:
                log.exception("the telephony lines' renewals failed; they run again tomorrow")


class SnoozeWake:
    """Called on every tick with the scheduler's clock: reopens the assists whose snooze ended.
    The database says which (nothing is kept in memory), so a restart or a new leader picks
    them up, and `wake_due` reopens each once however many nodes run it."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self.woken = 0  # assists this node reopened

    async def __call__(self, now: datetime) -> None:
        async with self._db.session() as session:
            woken = await wake_due(session, now)
        if woken:
            self.woken += len(woken)
            log.info("snooze ended: %s open again", ", ".join(woken))
