"""Which node runs the scheduler: exactly one at a time.

On PostgreSQL the leader holds a session-level advisory lock on a connection of its own. The
lock lives exactly as long as that connection: when the node dies its connection closes, the
server releases the lock, and the next node to try (every few seconds) takes over. SQLite
serves one node, which always leads.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

# Any 64-bit constant shared by every node ("SWBSCHED"); the migration lock uses another one.
SCHEDULER_LOCK = 0x5357_4253_4348_4544


class Leadership(Protocol):
    async def acquire(self) -> bool:
        """Try once to become the leader; True if this node leads (now or already)."""
        ...

    async def held(self) -> bool:
        """Whether this node still leads (False once the lock's connection is gone)."""
        ...

    async def release(self) -> None:
        """Stop leading; never raises."""
        ...


class SingleNode:
    """SQLite: the only node leads."""

    async def acquire(self) -> bool:
        return True

    async def held(self) -> bool:
        return True

    async def release(self) -> None:
        return None


class AdvisoryLock:
    """A PostgreSQL session-level advisory lock held on a dedicated connection."""

    def __init__(self, engine: AsyncEngine, key: int = SCHEDULER_LOCK) -> None:
        self._engine = engine
        self._key = key
        self._conn: AsyncConnection | None = None
        self.backend_pid: int | None = None  # the server process holding the lock

    async def acquire(self) -> bool:
        if self._conn is not None:
            return await self.held()
        conn = await self._engine.connect()
        try:
            # Autocommit: the lock belongs to the session, and the connection must not sit
            # idle in a transaction for as long as it leads.
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            got = bool(await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key}))
            pid = int(await conn.scalar(text("SELECT pg_backend_pid()")) or 0) if got else None
        except Exception:
            await _discard(conn)
            raise
        if not got:
            await conn.close()
            return False
        self._conn, self.backend_pid = conn, pid
        return True

    async def held(self) -> bool:
        if self._conn is None:
            return False
        try:
            await self._conn.execute(text("SELECT 1"))
        except Exception:  # the connection is gone, and with it the lock
            log.warning("lost the scheduler lock's connection", exc_info=True)
            conn, self._conn, self.backend_pid = self._conn, None, None
            await _discard(conn)
            return False
        return True

    async def release(self) -> None:
        conn, self._conn, self.backend_pid = self._conn, None, None
        if conn is None:
            return
        try:
            await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
            await conn.close()
        except Exception:
            log.warning("could not release the scheduler lock cleanly", exc_info=True)
            await _discard(conn)


async def _discard(conn: AsyncConnection) -> None:
    """Close CONN for good (never back to the pool: it may still hold the lock)."""
    with contextlib.suppress(Exception):
        await conn.invalidate()
    with contextlib.suppress(Exception):
        await conn.close()
