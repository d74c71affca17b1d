"""The SQLite adapter: one trip to the connection's thread per statement, and every result a
statement gives (rows, row counts, last row ids, RETURNING, errors) as SQLAlchemy's own."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import pytest
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError

from storage import sqlite_driver
from storage.db import Database
from storage.sqlite_driver import BUSY_TIMEOUT_MS, INLINE_ROWS, OneTripCursor, inline
from tests.helpers import wait_until

_meta = MetaData()
_items = Table(
    "items",
    _meta,
    Column("id", Integer, primary_key=True),
    Column("name", String(20), unique=True),
    Column("n", Integer),
)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with database.engine.begin() as conn:
        await conn.run_sync(_meta.create_all)
    try:
        yield database
    finally:
        await database.dispose()


async def test_a_statement_is_one_trip_to_the_connection_s_thread(
    db: Database, trips: list[str]
) -> None:
    async with db.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        assert isinstance(raw.dbapi_connection.cursor(), OneTripCursor)  # type: ignore[union-attr]
        trips.clear()
        assert (await conn.execute(update(_items).values(n=1))).rowcount == 0
        assert trips == ["_run"]


async def test_rows_counts_ids_and_returning_are_those_of_the_statement(db: Database) -> None:
    async with db.engine.begin() as conn:
        first = await conn.execute(insert(_items).values(name="a", n=1))
        assert first.inserted_primary_key == (1,)
        await conn.execute(insert(_items), [{"name": "b", "n": 2}, {"name": "c", "n": 3}])
        returned = await conn.execute(
            insert(_items).values(name="d", n=4).returning(_items.c.id, _items.c.name)
        )
        assert returned.all() == [(4, "d")]
        bumped = await conn.execute(update(_items).where(_items.c.n >= 2).values(n=_items.c.n + 10))
        assert bumped.rowcount == 3
        many = await conn.execute(
            update(_items).where(_items.c.name == bindparam("who")).values(n=0),
            [{"who": "a"}, {"who": "b"}, {"who": "nobody"}],
        )
        assert many.rowcount == 2
        taken = await conn.execute(
            update(_items).where(_items.c.n == 0).values(n=7).returning(_items.c.name)
        )
        assert sorted(taken.scalars()) == ["a", "b"]
        assert taken.rowcount == 2
    async with db.engine.connect() as conn:
        rows = (await conn.execute(select(_items.c.name, _items.c.n).order_by("id"))).all()
        assert rows == [("a", 7), ("b", 7), ("c", 13), ("d", 14)]
        partial = await conn.execute(select(_items.c.name).order_by("id"))
        assert partial.fetchmany(3) == [("a",), ("b",), ("c",)]
        assert partial.fetchone() == ("d",)
        assert partial.fetchone() is None
        streamed = await conn.stream(select(_items.c.name).order_by("id"))  # server side
        assert [row.name async for row in streamed] == ["a", "b", "c", "d"]


async def test_errors_are_sqlalchemy_s_and_leave_the_connection_usable(db: Database) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(insert(_items).values(name="a", n=1))
    with pytest.raises(IntegrityError):
        async with db.engine.begin() as conn:
            await conn.execute(insert(_items).values(name="a", n=2))
    with pytest.raises(OperationalError, match="no such table"):
        async with db.engine.connect() as conn:
            await conn.execute(text("SELECT * FROM nowhere"))
    async with db.engine.connect() as conn:
        assert await conn.scalar(select(_items.c.n)) == 1


async def test_inline_statements_make_no_trip_and_give_the_same_results(
    db: Database, trips: list[str]
) -> None:
    async with db.engine.begin() as conn:
        with inline(2):
            trips.clear()
            result = await conn.execute(
                insert(_items).returning(_items.c.id, _items.c.name),
                [{"name": "a", "n": 1}, {"name": "b", "n": 2}],
            )
            assert sorted(r.name for r in result) == ["a", "b"]
            changed = await conn.execute(update(_items).where(_items.c.n > 1).values(n=5))
            assert changed.rowcount == 1
            assert (await conn.execute(select(_items.c.name, _items.c.n))).all() == [
                ("a", 1),
                ("b", 5),
            ]
            with pytest.raises(IntegrityError):
                await conn.execute(insert(_items).values(name="a"))
            assert trips == []  # all of it on the loop's thread
        # Outside the context (the commit, here) the trips are as before.
    async with db.engine.connect() as conn:
        trips.clear()
        with inline(INLINE_ROWS + 1):  # too many rows to hold the loop for
            await conn.execute(update(_items).values(n=6))
        assert trips == ["_run"]
        timeout = (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar()
        assert timeout == BUSY_TIMEOUT_MS  # put back after each inline statement


async def test_the_loop_s_settings_are_set_once_and_put_back_for_the_thread(
    db: Database, trips: list[str]
) -> None:
    """On the loop's thread a connection has no busy timeout and no checkpoint in its
    commits; they are set at its first inline statement, not around every statement and
    commit (two PRAGMAs each), and put back before anything runs on its thread."""
    async with db.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        assert isinstance(raw, aiosqlite.Connection)
        on_loop: list[str] = []
        loop_thread = threading.get_ident()

        def traced(sql: str) -> None:
            if threading.get_ident() == loop_thread:
                on_loop.append(sql)

        await raw._execute(raw._conn.set_trace_callback, traced)
        for n in range(3):
            with inline():
                await conn.execute(insert(_items).values(name=f"row {n}", n=n))
                await conn.commit()
        pragmas = [sql for sql in on_loop if sql.upper().startswith("PRAGMA")]
        assert pragmas == ["PRAGMA busy_timeout=0", "PRAGMA wal_autocheckpoint=0"]
        assert len(on_loop) == len(pragmas) + 3 * 3  # BEGIN, INSERT, COMMIT per row
        trips.clear()
        settings = await conn.exec_driver_sql("PRAGMA busy_timeout")
        assert settings.scalar() == BUSY_TIMEOUT_MS
        checkpoint = await conn.exec_driver_sql("PRAGMA wal_autocheckpoint")
        assert checkpoint.scalar() == sqlite_driver.WAL_AUTOCHECKPOINT
        assert trips == ["_run", "_run"]
        on_loop.clear()
        with inline():  # on the loop again: set again, once
            await conn.execute(update(_items).values(n=9))
            await conn.execute(update(_items).values(n=10))
        assert [sql for sql in on_loop if sql.startswith("PRAGMA")] == pragmas
        await raw._execute(raw._conn.set_trace_callback, None)


async def test_an_inline_write_meeting_the_lock_waits_off_the_loop(db: Database) -> None:
    """Another connection holds SQLite's write lock: the inline write must not wait for it in
    SQLite's busy handler on the loop's thread (nothing else would run meanwhile, and a holder
    in this process could never finish): it waits on its connection's thread instead, and is
    written once the lock is free."""
    ticks = 0
    async with db.engine.connect() as holder:
        await holder.execute(insert(_items).values(name="held"))  # takes the write lock

        async def write_inline() -> None:
            async with db.engine.begin() as conn:
                with inline():
                    await conn.execute(insert(_items).values(name="waited"))

        writer = asyncio.create_task(write_inline())
        loop = asyncio.get_running_loop()
        longest, last = 0.0, loop.time()
        while ticks < 20:  # the loop keeps turning while the write waits
            await asyncio.sleep(0.01)
            ticks += 1
            longest, last = max(longest, loop.time() - last), loop.time()
        assert not writer.done()
        # Not a speed goal: a loop held in SQLite's busy handler stops for its 10 s timeout.
        assert longest < 2.0
        await holder.commit()
        await asyncio.wait_for(writer, 10)
    async with db.engine.connect() as conn:
        names = (await conn.execute(select(_items.c.name).order_by(_items.c.id))).scalars()
        assert list(names) == ["held", "waited"]


async def test_no_statement_runs_inline_beside_a_call_still_on_the_thread(
    db: Database, trips: list[str]
) -> None:
    """A call whose awaiting was cancelled still runs on the connection's thread: a
    statement on the same connection then goes to that thread after it, not beside it."""
    async with db.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        assert isinstance(raw, aiosqlite.Connection)
        started = threading.Event()

        def hold() -> None:
            started.set()
            time.sleep(0.3)

        running = asyncio.ensure_future(raw._execute(hold))
        await wait_until(started.is_set, timeout=5, message="the call running on the thread")
        running.cancel()  # the sleep goes on on the thread
        trips.clear()
        with inline():
            assert (await conn.execute(select(_items.c.id))).all() == []
        assert trips == ["_run"]  # queued behind it
        trips.clear()
        with inline():
            await conn.execute(select(_items.c.id))
        assert trips == []  # the thread is idle again: inline


def _in_database_file(path: Path) -> list[str]:
    """The names the database file itself holds, without what is only in its WAL yet."""
    reader = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return [row[0] for row in reader.execute("SELECT name FROM items ORDER BY id")]
    finally:
        reader.close()


async def test_an_inline_commit_leaves_the_checkpoint_to_the_checkpointer(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite checkpoints the WAL inside the commit that makes it long (milliseconds of
    copying and syncing): a commit on the loop's thread must not, and `checkpointing` does
    it on a connection's thread instead. (One page is "long" here, so every commit would.)"""
    monkeypatch.setattr(sqlite_driver, "WAL_AUTOCHECKPOINT", 1)
    path = tmp_path / "driver.db"
    async with db.engine.connect() as conn:
        await conn.exec_driver_sql("PRAGMA wal_autocheckpoint=1")
        await conn.execute(insert(_items).values(name="on the thread"))
        await conn.commit()
        assert _in_database_file(path) == ["on the thread"]  # checkpointed by its commit
        with inline():
            await conn.execute(insert(_items).values(name="on the loop"))
            await conn.commit()
        assert _in_database_file(path) == ["on the thread"]  # only in the WAL
        assert (await conn.exec_driver_sql("PRAGMA wal_autocheckpoint")).scalar() == 1
    async with db.checkpointing(every=0.05):
        await wait_until(
            lambda: _in_database_file(path) == ["on the thread", "on the loop"],
            timeout=5,
            message="the row checkpointed into the database file",
        )


async def test_a_commit_with_nothing_written_makes_no_trip(db: Database, trips: list[str]) -> None:
    """SQLAlchemy commits every transaction it began; one that only read has nothing to
    commit (sqlite3 opens none before a write), and a trip for it was a tenth of a
    millisecond of CPU for nothing. One that wrote still commits, and inline on the loop's
    thread when made inline."""
    async with db.engine.begin() as conn:
        trips.clear()
        await conn.execute(select(_items.c.id))
    assert trips == []  # the read on the loop's thread (`_read_inline`), no commit
    async with db.engine.begin() as conn:
        trips.clear()
        await conn.execute(insert(_items).values(name="kept"))
    assert trips == ["_run", "commit"]
    trips.clear()
    with inline():
        async with db.engine.begin() as conn:
            await conn.execute(insert(_items).values(name="kept inline"))
    assert trips == []
    async with db.engine.connect() as conn:
        names = (await conn.execute(select(_items.c.name).order_by(_items.c.id))).scalars()
        assert list(names) == ["kept", "kept inline"]


async def _fill(db: Database, rows: int) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(insert(_items), [{"name": f"r{n}", "n": n} for n in range(rows)])


_PAIRS = "SELECT count(*) FROM items AS a, items AS b WHERE a.n <= b.n"


async def test_a_read_runs_on_the_loop_s_thread(db: Database, trips: list[str]) -> None:
    """A read outside `inline` makes no trip either when it is short: the trip cost about
    a hundred microseconds of CPU where SQLite reads a few rows in a few."""
    await _fill(db, 3)
    async with db.engine.connect() as conn:
        trips.clear()
        rows = (await conn.execute(select(_items.c.name).where(_items.c.n > 0))).scalars()
        assert sorted(rows) == ["r1", "r2"]
        assert await conn.scalar(text(_PAIRS)) == 6
    assert trips == []


async def test_a_read_over_its_budget_is_stopped_and_run_on_the_thread(
    db: Database, trips: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read still running when its budget is spent is stopped and run again on the
    connection's thread, whole; its next runs go there at once, until the loop is tried
    again. (A budget already spent stops it at SQLite's first look at the clock.)"""
    await _fill(db, 120)
    monkeypatch.setattr(sqlite_driver, "_LONG_READ_SKIPS", 2)
    monkeypatch.setattr(sqlite_driver, "_long_reads", sqlite_driver._LongReads())
    monkeypatch.setattr(sqlite_driver, "READ_BUDGET", -1.0)
    tried: list[str] = []
    read_inline = sqlite_driver._read_inline

    def spied(connection: aiosqlite.Connection, operation: str, parameters: object) -> object:
        tried.append(operation)
        return read_inline(connection, operation, parameters)

    monkeypatch.setattr(sqlite_driver, "_read_inline", spied)
    async with db.engine.connect() as conn:
        counts = []
        for _ in range(4):
            trips.clear()
            counts.append((await conn.scalar(text(_PAIRS)), trips[:]))
        # A short read is not held by the long one's record.
        trips.clear()
        assert await conn.scalar(select(_items.c.n).where(_items.c.name == "r7")) == 7
    assert counts == [(120 * 121 // 2, ["_run"])] * 4
    # Tried on the loop, then two runs straight to the thread, then the loop again.
    assert tried == [_PAIRS, _PAIRS, "SELECT items.n \nFROM items \nWHERE items.name = ?"]
    assert trips == []


async def test_a_read_stopped_in_a_write_transaction_keeps_its_writes(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite rolls the transaction back when it stops an INSERT, UPDATE or DELETE, not a
    SELECT: a read stopped for its budget inside a transaction that wrote loses nothing."""
    await _fill(db, 120)
    monkeypatch.setattr(sqlite_driver, "_long_reads", sqlite_driver._LongReads())
    monkeypatch.setattr(sqlite_driver, "READ_BUDGET", -1.0)
    async with db.engine.begin() as conn:
        with inline():
            await conn.execute(insert(_items).values(name="written", n=1000))
        assert await conn.scalar(text(_PAIRS)) == 121 * 122 // 2
        await conn.execute(update(_items).where(_items.c.name == "r0").values(n=-1))
    async with db.engine.connect() as conn:
        assert await conn.scalar(select(_items.c.n).where(_items.c.name == "written")) == 1000
        assert await conn.scalar(select(_items.c.n).where(_items.c.name == "r0")) == -1
