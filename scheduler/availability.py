"""The availability round the scheduler's leader runs once a minute: members' work schedules
turn them on and off at their boundaries, and unassigned assists go to whoever came online."""

from __future__ import annotations

import logging
from datetime import datetime

from core.routing.availability import apply_schedules
from storage.db import Database

log = logging.getLogger(__name__)


class AvailabilityRound:
    """Called by the leader with the scheduler's clock (see `runner.ROUND_EVERY`)."""

    def __init__(self, db: Database, base_url: str | None = None) -> None:
        self._db = db
        self._base_url = base_url  # PUBLIC_BASE_URL, for the links in hand-out notices

    async def __call__(self, now: datetime) -> None:
        async with self._db.writing(), self._db.session() as session:
            changed = await apply_schedules(session, now, base_url=self._base_url)
        if changed:
            log.info("availability: %d members changed by their work schedules", changed)
