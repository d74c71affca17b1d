"""SQLAlchemy's aiosqlite adapter with one trip to the connection's thread per statement.

aiosqlite runs each sqlite3 call on the connection's own thread, and SQLAlchemy's adapter
makes four such calls for a statement that returns rows: open a cursor, execute, fetch all,
close. Each trip wakes that thread, then the event loop (through its self-pipe) to hand the
result back: on SQLite most of the gateway's CPU per request end to end went to these trips
(bench/e2e.py: the driver and the event loop, 3.5 of 6 ms a request). The cursor here does the
four in one call on that thread and keeps what the statement returned (its rows, description,
row count and last row id), so a statement costs one trip. The hot path's small statements
make none (`inline`), nor do reads that finish within a millisecond (`_read_inline`).
Everything else (connections, commits, errors, server-side cursors) is SQLAlchemy's adapter
unchanged; `Database` passes it to the engine as its DBAPI (`create_async_engine(module=...)`,
a documented parameter).

It reaches two attributes aiosqlite documents as private, as SQLAlchemy's own adapter does
(`isolation_level`): `Connection._execute` (queue a call on the connection's thread) and
`Connection._conn` (its sqlite3 connection, used only on that thread). tests/storage check
the adapter against the aiosqlite installed.
"""

from __future__ import annotations

import collections
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT

_Outcome = tuple[Any, list[Any], int, int | None]  # description, rows, rowcount, lastrowid
# How long a statement waits for another connection's write lock (`PRAGMA busy_timeout`,
# set on every connection by `storage.db`).
BUSY_TIMEOUT_MS = 10_000


def _run(connection: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> _Outcome:
    """On the connection's thread: the statement, from its cursor's opening to its closing."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        # Read after the rows: for RETURNING, sqlite3 counts the rows as they are stepped.
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


# Set by `inline`: the statements of this context run on the event loop's own thread.
_INLINE: ContextVar[bool] = ContextVar("sqlite_inline", default=False)
_SQLITE_BUSY = 5  # the primary result code of "database is locked"


# The most rows a statement run `inline` writes at once (an executemany's parameter sets):
# ten microseconds or so each, so the loop is never held a millisecond.
INLINE_ROWS = 64


@contextmanager
def inline(rows: int = 1) -> Iterator[None]:
    """Run the statements made in this context on the event loop's thread, not the
    connection's: for the hot path's small statements (a row by its key, a few rows
    inserted, the claim of a few tasks), which SQLite runs in a few microseconds where the
    trip to the connection's thread and back costs about a hundred of CPU (the thread's
    wake-up, the GIL changing hands twice, the event loop's self-pipe). Never for a
    statement whose cost grows with the data (a report, a search): it would stall every
    request meanwhile (a read outside this context is tried on the loop's thread with a
    budget instead, see `_read_inline`). A statement made `inline` never waits in SQLite's
    busy handler on the loop: it is run with no busy timeout, and if another connection
    holds the write lock it goes to the connection's thread after all, to wait there (see
    `_run_inline`). ROWS: how many rows the context's writes take at most; above
    INLINE_ROWS, nothing changes. Only SQLite reads this; other databases' drivers ignore
    it."""
    if rows > INLINE_ROWS:
        yield
        return
    token = _INLINE.set(True)
    try:
        yield
    finally:
        _INLINE.reset(token)


def _run_inline(
    connection: aiosqlite.Connection, operation: str, parameters: Any, many: bool
) -> _Outcome | None:
    """On the loop's thread: the statement, or None if SQLite answered "database is
    locked" (nothing was written: a statement that cannot take the lock makes no change,
    and in an executemany only the first row can meet the lock), to run on the
    connection's thread instead, where the busy timeout is back in place."""
    _loop_settings(connection)
    try:
        return _run(connection._conn, operation, parameters, many)
    except sqlite3.OperationalError as exc:
        if getattr(exc, "sqlite_errorcode", None) == _SQLITE_BUSY:
            return None
        raise


# How long a read may hold the event loop (see `_read_inline`), in seconds, and how many of
# SQLite's virtual machine steps run between two looks at the clock (a few microseconds of
# work each thousand; a look costs a fraction of one).
READ_BUDGET = 0.001
_BUDGET_STEPS = 4000
_SQLITE_INTERRUPT = 9  # the primary result code of a statement the progress handler stopped
# Reads that ran over their budget on the loop go straight to the connection's thread for
# their next this many runs (then try the loop again: the data may have shrunk).
_LONG_READ_SKIPS = 100
_LONG_READS_KEPT = 1000


class _LongReads:
    """The reads (by SQL) lately found too long for the loop, with how many more runs each
    goes to the connection's thread before trying the loop again."""

    def __init__(self) -> None:
        self._skips: dict[str, int] = {}

    def goes_to_thread(self, operation: str) -> bool:
        left = self._skips.get(operation)
        if left is None:
            return False
        if left <= 1:
            del self._skips[operation]
        else:
            self._skips[operation] = left - 1
        return True

    def too_long(self, operation: str) -> None:
        if len(self._skips) >= _LONG_READS_KEPT:
            self._skips.clear()  # SQL made per call (not the gateway's): start again
        self._skips[operation] = _LONG_READ_SKIPS


_long_reads = _LongReads()


def _read_for_the_loop(operation: str) -> bool:
    """Whether to try OPERATION on the loop's thread: a SELECT (it writes nothing, so
    stopping it part-way changes nothing: SQLite rolls a transaction back on an interrupt
    only for an INSERT, UPDATE or DELETE) not lately found too long there (each such
    answer counts one of its runs sent to the thread)."""
    return operation.startswith("SELECT") and not _long_reads.goes_to_thread(operation)


def _read_inline(
    connection: aiosqlite.Connection, operation: str, parameters: Any
) -> _Outcome | None:
    """On the loop's thread, a read outside `inline`: most of the gateway's reads (a tool's
    counts, a member list) take SQLite tens of microseconds, where the trip to the
    connection's thread costs about a hundred of CPU. But a read's cost grows with the data,
    so it runs with a budget: SQLite's progress handler stops it once it has held the loop
    READ_BUDGET seconds, and it is run again on the connection's thread (None), as are its
    next runs (`_LongReads`). None as well if it met a lock (with no busy timeout here)."""
    sqlite = connection._conn
    _loop_settings(connection)
    deadline = time.perf_counter() + READ_BUDGET
    sqlite.set_progress_handler(lambda: time.perf_counter() > deadline, _BUDGET_STEPS)
    try:
        return _run(sqlite, operation, parameters, False)
    except sqlite3.OperationalError as exc:
        code = getattr(exc, "sqlite_errorcode", None)
        if code == _SQLITE_INTERRUPT:
            _long_reads.too_long(operation)
            return None
        if code == _SQLITE_BUSY:
            return None
        raise
    finally:
        sqlite.set_progress_handler(None, 0)


def _loop_settings(connection: aiosqlite.Connection) -> None:
    """CONNECTION set for use on the loop's thread: no busy timeout (a statement meeting
    another connection's lock must not wait there) and no checkpoint inside a commit (see
    `_commit_inline`). They stay set while the connection is used there, two PRAGMAs saved
    for every statement and commit; the next call on the connection's thread puts SQLite's
    usual settings back before it runs (`_CountedCalls`)."""
    calls: _CountedCalls = connection._tx  # type: ignore[assignment]  # see `_idle`
    if not calls.loop_settings:
        connection._conn.execute("PRAGMA busy_timeout=0")
        connection._conn.execute("PRAGMA wal_autocheckpoint=0")
        calls.loop_settings = True


def _thread_settings(connection: sqlite3.Connection) -> None:
    """The busy timeout and checkpointing a connection has off the loop's thread."""
    connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    connection.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT}")


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose statement is one call on the connection's thread."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: Any) -> None:
        # Not the parent's: it opens an aiosqlite cursor (a trip) that is never needed.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    async def _async_soft_close(self) -> None:
        """Nothing to close: the statement's cursor was closed on the thread."""

    def close(self) -> None:
        self._rows.clear()

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        return await self._trip(operation, parameters, many=False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        return await self._trip(operation, seq_of_parameters, many=True)

    async def _trip(self, operation: Any, parameters: Any, *, many: bool) -> None:
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        async with self._adapt_connection._execute_mutex:
            outcome = None
            # Never beside a call still running on the connection's thread (one whose
            # awaiting was cancelled, say): the connection is used by one thread at a time.
            if _idle(connection):
                if _INLINE.get():
                    outcome = _run_inline(connection, operation, parameters, many)
                elif not many and _read_for_the_loop(operation):
                    outcome = _read_inline(connection, operation, parameters)
            if outcome is None:
                outcome = await connection._execute(
                    _run, connection._conn, operation, parameters, many
                )
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows)

    def nextset(self) -> None:
        raise NotImplementedError("SQLite returns one result set per statement")


# SQLite's default: a commit that leaves the WAL this many pages long checkpoints it.
WAL_AUTOCHECKPOINT = 1000


def _commit_inline(connection: aiosqlite.Connection) -> None:
    """Commit on the loop's thread without the checkpoint SQLite would run in that commit
    once the WAL is long (copying it into the database and syncing both: milliseconds,
    with every request waiting meanwhile). The gateway's `Database.checkpointing` runs it on
    a connection's thread instead; a commit made there still checkpoints as it always did."""
    _loop_settings(connection)
    connection._conn.commit()


class _CountedCalls:
    """An aiosqlite connection's queue of calls for its thread, counting the calls queued
    (on the loop's thread) and finished (on the connection's): each count is written by one
    thread only, so the two are equal exactly when the connection's thread has nothing left.
    A call puts the connection's settings for its thread back first if the loop's thread
    changed them (`loop_settings`, set there only while this thread is idle)."""

    __slots__ = ("_connection", "_queue", "finished", "loop_settings", "queued")

    def __init__(self, queue: Any, connection: aiosqlite.Connection) -> None:
        self._queue = queue
        self._connection = connection
        self.queued = 0
        self.finished = 0
        self.loop_settings = False

    def put_nowait(self, item: tuple[Any, Any]) -> None:
        future, function = item

        def counted() -> Any:
            try:
                if self.loop_settings and self._connection._connection is not None:
                    _thread_settings(self._connection._connection)
                    self.loop_settings = False
                return function()
            finally:
                self.finished += 1

        self.queued += 1
        self._queue.put_nowait((future, counted))

    def put(self, item: tuple[Any, Any], *args: Any, **kwargs: Any) -> None:
        self.put_nowait(item)

    def get(self, *args: Any, **kwargs: Any) -> Any:
        return self._queue.get(*args, **kwargs)


def _idle(connection: aiosqlite.Connection) -> bool:
    """Whether CONNECTION's thread has no call queued or running. A connection whose calls
    are not counted (not opened by `OneTripDBAPI`) never is: nothing runs on the loop's
    thread that could not be put back for its own."""
    calls = connection._tx
    return isinstance(calls, _CountedCalls) and calls.queued == calls.finished


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneTripCursor

    def commit(self) -> None:
        """SQLAlchemy commits every transaction it began, reads only ones too, and each commit
        was a trip to the connection's thread. sqlite3 begins a transaction only before a
        write: with none open there is nothing to commit (sqlite3's own `commit` then does
        nothing either), so no trip is made. A transaction made `inline` commits on the
        loop's thread too."""
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        if connection._connection is not None and _idle(connection):
            if not connection._conn.in_transaction:
                return
            if _INLINE.get():
                try:
                    _commit_inline(connection)
                except Exception as error:
                    self._handle_exception(error)
                return
        super().commit()

    def rollback(self) -> None:
        """As `commit`: nothing open, nothing to roll back, no trip."""
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        if (
            connection._connection is not None
            and _idle(connection)
            and not connection._conn.in_transaction
        ):
            return
        super().rollback()


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """SQLAlchemy's aiosqlite DBAPI adapter, handing out `OneTripConnection`s."""

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        adapted = super().connect(*arg, **kw)
        # Its thread already reads the queue it was started with; the calls made from now
        # on go through the counting one (see `_idle`).
        connection: aiosqlite.Connection = adapted._connection  # type: ignore[assignment]
        connection._tx = _CountedCalls(connection._tx, connection)  # type: ignore[assignment]
        return OneTripConnection(self, adapted._connection)


def dbapi() -> OneTripDBAPI:
    """The DBAPI to give `create_async_engine(module=...)` for `sqlite+aiosqlite` URLs."""
    return OneTripDBAPI(aiosqlite, sqlite3)


async def commit(adapted: OneTripConnection) -> None:
    """ADAPTED's transaction committed by the driver, without SQLAlchemy (for
    `Database.write`): nothing to do if none is open, on the loop's thread when `inline`
    and the connection's thread is idle (as `OneTripConnection.commit`), else on that
    thread."""
    connection: aiosqlite.Connection = adapted._connection  # type: ignore[assignment]
    if _idle(connection):
        if not connection._conn.in_transaction:
            return
        if _INLINE.get():
            _commit_inline(connection)
            return
    await connection.commit()


async def rollback(adapted: OneTripConnection) -> None:
    """ADAPTED's transaction rolled back by the driver, if one is open."""
    connection: aiosqlite.Connection = adapted._connection  # type: ignore[assignment]
    if _idle(connection) and not connection._conn.in_transaction:
        return
    await connection.rollback()
