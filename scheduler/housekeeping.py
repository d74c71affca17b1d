"""The daily clean-up the scheduler's leader runs: expired session memory and media files."""

from __future__ import annotations

import logging
from datetime import datetime

from core.llm.memory import prune_expired
from delivery.media import MediaStore
from storage.db import Database

log = logging.getLogger(__name__)


class Housekeeping:
    """Called once a day (and when a node starts leading) with the scheduler's clock."""

    def __init__(self, db: Database, media: MediaStore) -> None:
        self._db = db
        self._media = media

    async def __call__(self, now: datetime) -> None:
        async with self._db.session() as session:
            memories = await prune_expired(session, now)
        files = await self._media.prune()
        log.info("housekeeping: %d session messages and %d media files expired", memories, files)
