"""The async database handle: engine, sessions, migrations and readiness."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import json
import logging
from collections.abc import AsyncIterator, Coroutine
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from config.database import sqlite_file
from storage import sqlite_driver, statements

MIGRATIONS = Path(__file__).with_name("migrations")
# The most connections `Database.kept_session` keeps between transactions: one for each task
# a node's pipeline processes at once (SWITCHBOARD_WORKERS, 4 by default); beyond, they go back
# to the pool.
KEPT_CONNECTIONS = 8
# Any 64-bit constant, shared by every node: serialises concurrent `migrate` runs on PostgreSQL.
_MIGRATION_LOCK = 0x5357_4D49_4752


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the one writer; NORMAL is durable across process crashes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={sqlite_driver.BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_reset(dbapi_connection: Any, record: Any, state: Any) -> None:
    """Roll back a connection returned to the pool only if it is inside a transaction.

    The pool's own reset rolls back every connection returned, committed or not, and on
    aiosqlite each rollback is a round trip to the connection's thread. sqlite3 begins a
    transaction only before a write and reads outside one, so a connection not
    `in_transaction` has nothing to roll back. (Not when the connection is being discarded
    outside the event loop: it is closed then, which rolls back.)"""
    if not state.asyncio_safe or state.transaction_was_reset:
        return
    if record.driver_connection is not None and record.driver_connection.in_transaction:
        dbapi_connection.rollback()


def json_dumps(value: Any) -> str:
    """A JSON column's text, by orjson (several times faster than `json.dumps`; keys that are
    not strings are written as strings, as `json.dumps` does). What orjson refuses (an
    integer beyond 64 bits, say) is written by `json.dumps`, so anything the standard
    library took is still taken."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value)


# orjson reads an integer beyond 64 bits as a float (it refuses no such number: 2**70 + 1
# came back as 1.1805916207174113e+21), always one at least this large in magnitude.
_HUGE = 2.0**63


def json_loads(text: str | bytes) -> Any:
    """A JSON column's value, by orjson; by `json.loads`, which keeps every integer exact,
    when orjson's holds a float as large as an integer beyond 64 bits would give
    (`json_dumps` writes those by `json.dumps`), and when orjson refuses the text (a NaN
    `json.dumps` once wrote)."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
    return json.loads(text) if _holds_huge_float(value) else value


def _holds_huge_float(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is float:
            if not -_HUGE < item < _HUGE:
                return True
        elif kind is dict:
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
    return False


# Seconds between two checkpoints of the SQLite WAL (`Database.checkpointing`).
CHECKPOINT_EVERY = 0.5
log = logging.getLogger(__name__)


class Database:
    """Owns the engine and hands out sessions; one per process."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        kwargs: dict[str, Any] = {
            "echo": echo,
            "json_serializer": json_dumps,
            "json_deserializer": json_loads,
        }
        if url.startswith("sqlite"):
            # SQLite makes the file but not its directory (the data directory, at first use).
            if (file := sqlite_file(url)) is not None:
                file.parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30}
            # Enough pooled connections for every concurrent user (journal, pipeline workers,
            # outbox, requests): an overflow connection is closed when returned, and each new
            # aiosqlite connection costs a thread, an open and the pragmas below.
            kwargs.update(pool_size=20, max_overflow=20)
            # The pool's reset-on-return is done by `_sqlite_reset` instead (see there).
            kwargs["pool_reset_on_return"] = None
            if url.startswith("sqlite+aiosqlite"):
                # One trip to the connection's thread per statement instead of four.
                kwargs["module"] = sqlite_driver.dbapi()
        else:
            # No ping before each checkout (a round trip every time, about a tenth of the
            # CPU per request end to end): the first statement on a connection cut by a
            # restart or failover fails and invalidates the whole pool. The journal writes its
            # batch again and the pipeline reruns the task's transaction (both on a new
            # connection); an admin API request in flight at that moment gets a 500.
            kwargs.update(pool_size=10, max_overflow=10)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.engine.sync_engine.pool, "reset", _sqlite_reset)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one write lock per file, and a writer that finds it taken sleeps in
        # SQLite's busy handler (1, 2, 5, 10, ... 100 ms steps) however soon it is freed. The
        # writers of this process queue here instead and take it in turn without sleeping.
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._writer: AsyncConnection | None = None  # SQLite's writer connection (`write`)
        self._kept: list[AsyncConnection] = []  # free connections of `kept_session`
        self._disposed = False

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction: committed on success, rolled back on error."""
        async with self.sessions() as session, session.begin():
            yield session

    def writing(self) -> AbstractAsyncContextManager[object]:
        """Hold around a write transaction, from before its first write until after its
        commit: on SQLite this process's writers take turns here; elsewhere it does nothing."""
        if self._write_lock is None:
            return contextlib.nullcontext()
        return self._write_lock

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A short write transaction for statements run by the driver (`storage.statements`):
        committed when the block ends, rolled back if it raises (or is cancelled). The driver
        itself begins and commits it: SQLAlchemy's transaction around one statement cost
        some 200 µs of CPU on SQLite, many times the statements of such a write. On SQLite it
        takes this process's write turn (`writing`) and runs on the process's one writer
        connection, kept open; elsewhere on a connection from the pool."""
        if self._write_lock is None:
            async with self.engine.connect() as conn, _driven(conn):
                yield conn
            return
        async with self._write_lock:
            conn = await self._writer_connection()
            async with _driven(conn):
                yield conn

    async def _writer_connection(self) -> AsyncConnection:
        """The SQLite writer connection, opened at first use and again after it was cut."""
        conn = self._writer
        if conn is None or conn.closed or conn.invalidated:
            if conn is not None:
                await conn.close()
            conn = self._writer = await self.engine.connect()
        return conn

    @asynccontextmanager
    async def checkpointing(self, every: float = CHECKPOINT_EVERY) -> AsyncIterator[None]:
        """While open (SQLite), checkpoint the WAL every EVERY seconds on a connection's
        thread: the commits made on the loop's thread (`sqlite_driver.inline`) leave it to
        this, and under load nearly all of them are. Without it the WAL would grow until a
        commit made elsewhere or the last connection's close checkpointed it. Elsewhere it
        does nothing."""
        if not self.is_sqlite:
            yield
            return
        # Its own context: never made `inline` by the caller's.
        task = asyncio.create_task(
            self._checkpoints(every), name="sqlite-checkpoints", context=contextvars.Context()
        )
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _checkpoints(self, every: float) -> None:
        failures = 0
        while True:
            await asyncio.sleep(every)
            try:
                async with self.engine.connect() as conn:
                    await conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
                failures = 0
            except Exception:  # the database is away: the next round tries again
                failures += 1
                if failures == 1:
                    log.warning("the SQLite checkpoint failed; trying again", exc_info=True)

    async def migrate(self) -> None:
        """Apply every pending migration (serialised across nodes on PostgreSQL)."""
        async with self.engine.connect() as conn:
            if self.is_postgres:
                await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK})
            try:
                await conn.run_sync(_upgrade)
                await conn.commit()
            finally:
                if self.is_postgres:
                    await conn.execute(
                        text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK}
                    )
                    await conn.commit()

    async def pending_migrations(self) -> list[str]:
        """Revisions not yet applied; empty when the schema is current."""
        async with self.engine.connect() as conn:
            return await conn.run_sync(_pending)

    async def ping(self) -> None:
        """Raise if the database cannot be reached."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    @asynccontextmanager
    async def kept_session(self) -> AsyncIterator[AsyncSession]:
        """As `sessions()`, for the hot path's transactions (the pipeline's, one a task): a
        session on a connection this handle keeps checked out between them. Taking one from
        the pool and giving it back, and closing the session in a task of its own (as
        SQLAlchemy's context manager does), cost some 150 µs of CPU on SQLite and 190 on
        PostgreSQL, a third of a short transaction's. The caller commits; what it leaves
        uncommitted is rolled back. After a block that raised, or a connection found
        invalidated, no kept connection is used again (a database restart cuts them all):
        they are closed, given back to the pool, and new ones taken from it."""
        conn = self._kept.pop() if self._kept else await self.engine.connect()
        session = self.sessions(bind=conn)
        try:
            yield session
            await session.close()
        except BaseException:
            await _to_completion(self._discard(session, conn))
            raise
        if conn.invalidated or conn.closed or conn.in_transaction() or self._disposed:
            await _to_completion(self._discard(session, conn))
        elif len(self._kept) < KEPT_CONNECTIONS:
            self._kept.append(conn)
        else:
            await conn.close()

    async def _discard(self, session: AsyncSession, conn: AsyncConnection) -> None:
        """SESSION closed, CONN and every kept connection given back to the pool."""
        kept, self._kept = self._kept, []
        try:
            await session.close()
        finally:
            for each in (conn, *kept):
                with contextlib.suppress(Exception):  # a cut connection is discarded anyway
                    await each.close()

    async def dispose(self) -> None:
        self._disposed = True
        kept, self._kept = self._kept, []
        for conn in kept:
            await conn.close()
        if self._writer is not None:
            writer, self._writer = self._writer, None
            await writer.close()
        await self.engine.dispose()


async def _to_completion(cleanup: Coroutine[Any, Any, None]) -> None:
    """Run CLEANUP to its end even if the caller is cancelled meanwhile (the cancellation is
    raised once it has ended): a connection half given back is never left behind."""
    task = asyncio.ensure_future(cleanup)
    cancelled: BaseException | None = None
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError as error:
            cancelled = error
    task.result()
    if cancelled is not None:
        raise cancelled


@asynccontextmanager
async def _driven(conn: AsyncConnection) -> AsyncIterator[None]:
    """CONN's transaction for the block, committed or rolled back by the driver (by
    SQLAlchemy if a statement made through it began one)."""
    adapted = conn.sync_connection.connection.dbapi_connection  # type: ignore[union-attr]
    try:
        yield
    except BaseException:
        if conn.in_transaction():
            await conn.rollback()
        elif not conn.invalidated:
            await statements.rollback(conn, adapted)
        raise
    if conn.in_transaction():
        await conn.commit()
    else:
        await statements.commit(conn, adapted)


@functools.cache
def _script() -> ScriptDirectory:
    """The migration scripts, read once per process (alembic executes every revision file
    each time it builds this: most of a no-op upgrade's half second)."""
    return ScriptDirectory.from_config(alembic_config())


def _upgrade(connection: Connection) -> None:
    current = set(MigrationContext.configure(connection).get_current_heads())
    if current == set(_script().get_heads()):
        return  # at head already: every start of a node after the first
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


def _pending(connection: Connection) -> list[str]:
    current = set(MigrationContext.configure(connection).get_current_heads())
    pending = []
    for rev in _script().walk_revisions():
        if rev.revision in current:
            break
        pending.append(rev.revision)
    return pending


def run_migrations_blocking(url: str) -> None:
    """`main.py migrate`: apply migrations and exit."""

    async def _go() -> None:
        db = Database(url)
        try:
            await db.migrate()
        finally:
            await db.dispose()

    asyncio.run(_go())


def upsert_insert(session: AsyncSession) -> Any:
    """The dialect's `insert` (SQLite's or PostgreSQL's), for `on_conflict_do_nothing` and
    `on_conflict_do_update`, which the generic `insert` lacks."""
    return sqlite_insert if session.get_bind().dialect.name == "sqlite" else pg_insert
