"""Statements run by the driver (`storage.statements`): the rows they write and read are
those SQLAlchemy's own execution writes and reads, in the caller's transaction, with
SQLAlchemy's errors; on both databases."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError

from storage import statements
from storage.db import Database
from storage.sqlite_driver import inline
from storage.statements import Statement, select_rows
from storage.types import UTCDateTime
from tests.storage.conftest import with_tables

_meta = MetaData()
_rows = Table(
    "driver_rows",
    _meta,
    Column("id", String(36), primary_key=True),
    Column("name", String(40), unique=True),
    Column("n", Integer, nullable=False, default=7),
    Column("flag", Boolean, nullable=False, default=False),
    Column("doc", JSON),
    Column("at", UTCDateTime()),
    Column("naive", DateTime()),
    Column("touched", Integer, onupdate=lambda: 42),
)

_INSERT = Statement(insert(_rows))
_SELECT = Statement(select(_rows).where(_rows.c.id == bindparam("row_id")))
_BUMP = Statement(
    update(_rows)
    .where(_rows.c.id == bindparam("row_id"), _rows.c.n == bindparam("expected"))
    .values(n=_rows.c.n + 1)
)
AT = datetime(2026, 12, 6, 19, 45, 1, 123456, tzinfo=UTC)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    async with with_tables(database_url, _meta) as database:
        yield database


def _row(id_: str, **values: object) -> dict[str, object]:
    return {
        "id": id_,
        "name": f"name {id_}",
        "n": 1,
        "flag": True,
        "doc": {"text": "Grüße <b>", "list": [1, 2.5, None], "nested": {"a": True}},
        "at": AT,
        "naive": datetime(2026, 1, 2, 3, 4, 5),
        **values,
    }


async def _read_all(db: Database) -> dict[str, tuple[object, ...]]:
    async with db.engine.connect() as conn:
        return {row.id: tuple(row) for row in await conn.execute(select(_rows))}


async def test_rows_written_are_those_sqlalchemy_writes(db: Database) -> None:
    async with db.session() as session:
        await session.execute(insert(_rows), [_row("a1"), _row("a2", doc=None, flag=False)])
        await _INSERT.run_many(session, [_row("b1"), _row("b2", doc=None, flag=False)])
    rows = await _read_all(db)
    assert rows["b1"][2:] == rows["a1"][2:] and rows["b2"][2:] == rows["a2"][2:]
    assert rows["b1"][5] == AT  # the instant, read back aware
    # A column not given takes its default, as SQLAlchemy fills it in.
    async with db.session() as session:
        await _INSERT.run(session, {"id": "c1", "name": "defaults", "at": AT})
        await session.execute(insert(_rows), {"id": "c2", "name": "defaults too", "at": AT})
    rows = await _read_all(db)
    assert rows["c1"][2:] == rows["c2"][2:] == (7, False, None, AT, None, None)


async def test_rows_read_are_those_sqlalchemy_reads(db: Database) -> None:
    async with db.session() as session:
        await session.execute(insert(_rows), [_row("a1"), _row("a2", doc=None, at=None)])
    async with db.session() as session:
        for id_ in ("a1", "a2"):
            (ours,) = await _SELECT.rows(session, {"row_id": id_})
            theirs = (await session.execute(select(_rows).where(_rows.c.id == id_))).one()
            assert tuple(ours) == tuple(theirs)
            assert ours.doc == theirs.doc and ours.at == theirs.at and ours.flag is True
        assert await _SELECT.rows(session, {"row_id": "none"}) == []


async def test_a_value_bound_at_several_places_is_processed_once(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name the statement binds twice (one range's end, the next one's start): SQLite has a
    `?` for each, and the value goes to both, converted once by its column type."""
    early, late = AT - timedelta(hours=1), AT + timedelta(hours=1)
    async with db.session() as session:
        await _INSERT.run_many(session, [_row("e", at=early), _row("m", at=AT), _row("l", at=late)])
    # A type of its own, whose bind processor is made after the patch below: SQLAlchemy's
    # (PostgreSQL's) holds the method it was made with, and the column's may have been made
    # already, by this test's insert or an earlier test's.
    at = UTCDateTime()
    ranges = Statement(
        select(_rows.c.id)
        .where(
            ((_rows.c.at >= bindparam("lo", type_=at)) & (_rows.c.at < bindparam("mid", type_=at)))
            | (
                (_rows.c.at >= bindparam("mid", type_=at))
                & (_rows.c.at < bindparam("hi", type_=at))
            )
        )
        .order_by(_rows.c.id)
    )
    conversions: list[object] = []
    process = UTCDateTime.process_bind_param

    def counted(self: UTCDateTime, value: object, dialect: object) -> object:
        conversions.append(value)
        return process(self, value, dialect)  # type: ignore[arg-type]

    monkeypatch.setattr(UTCDateTime, "process_bind_param", counted)
    async with db.session() as session:
        bounds = {"lo": early, "mid": AT, "hi": late + timedelta(seconds=1)}
        assert [row.id for row in await ranges.rows(session, bounds)] == ["e", "l", "m"]
        bounds["mid"] = late
        assert [row.id for row in await ranges.rows(session, bounds)] == ["e", "l", "m"]
        bounds["hi"] = late
        assert [row.id for row in await ranges.rows(session, bounds)] == ["e", "m"]
    assert len(conversions) == 9  # three names, three runs


async def test_row_counts_and_the_caller_s_transaction(db: Database) -> None:
    async with db.session() as session:
        await _INSERT.run(session, _row("a1"))
    async with db.session() as session:
        assert await _BUMP.run(session, {"row_id": "a1", "expected": 1}) == 1
        assert await _BUMP.run(session, {"row_id": "a1", "expected": 1}) == 0  # fenced
        # Seen by the session's own statements: one connection, one transaction.
        assert await session.scalar(select(_rows.c.n).where(_rows.c.id == "a1")) == 2
    # Rolled back with the transaction it ran in.
    with pytest.raises(RuntimeError):
        async with db.session() as session:
            await _BUMP.run(session, {"row_id": "a1", "expected": 2})
            await _INSERT.run(session, _row("a2"))
            raise RuntimeError("the caller fails")
    rows = await _read_all(db)
    assert set(rows) == {"a1"} and rows["a1"][2] == 2
    # A column's `onupdate` is set as SQLAlchemy sets it.
    assert rows["a1"][7] == 42


async def test_errors_are_sqlalchemy_s_and_change_nothing(db: Database) -> None:
    async with db.session() as session:
        await _INSERT.run(session, _row("a1"))
    with pytest.raises(IntegrityError):
        async with db.session() as session:
            await _INSERT.run(session, _row("a2"))
            await _INSERT.run(session, _row("a3", name="name a1"))  # taken
    assert set(await _read_all(db)) == {"a1"}
    # The pooled connection is usable again afterwards.
    async with db.session() as session:
        await _INSERT.run(session, _row("a4"))
    assert set(await _read_all(db)) == {"a1", "a4"}


async def test_a_connection_as_well_as_a_session(db: Database) -> None:
    async with db.engine.begin() as conn:
        await _INSERT.run_many(conn, [_row("a1"), _row("a2")])
        assert len(await _SELECT.rows(conn, {"row_id": "a2"})) == 1
    assert set(await _read_all(db)) == {"a1", "a2"}


def test_a_statement_that_cannot_be_compiled_once_is_refused(db: Database) -> None:
    with pytest.raises(ValueError, match="expanding"):
        Statement(select(_rows).where(_rows.c.id.in_(bindparam("ids", expanding=True)))).plan(
            db.engine.dialect
        )


async def test_on_sqlite_an_inline_statement_makes_no_trip(db: Database, trips: list[str]) -> None:
    if not db.is_sqlite:
        pytest.skip("the placement on the loop's thread is SQLite's")
    made = trips
    async with db.session() as session:
        await session.scalar(select(func.count()).select_from(_rows))  # the connection's first
        made.clear()
        with inline():
            await _INSERT.run(session, _row("a1"))
            assert await _BUMP.run(session, {"row_id": "a1", "expected": 1}) == 1
        assert made == []
        await _INSERT.run(session, _row("a2", at=AT + timedelta(days=1)))
        assert made == ["_run"]


_INSERT_ID = Statement(insert(_rows).returning(_rows.c.id))


async def test_a_statement_alone_is_its_own_transaction_on_postgresql(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`rows_alone`: on PostgreSQL no BEGIN and no COMMIT (the server commits the statement as
    it runs it), so what the block does after it is a transaction of its own; on SQLite the
    block's transaction holds it as before. Anything but the block's first statement is
    refused on PostgreSQL, and the statements after it begin a transaction again."""
    begun = await _begins(db, monkeypatch)
    with pytest.raises(RuntimeError, match="after"):
        async with db.write() as conn:
            assert [row.id for row in await _INSERT_ID.rows_alone(conn, _row("a1"))] == ["a1"]
            assert begun == []  # no BEGIN on PostgreSQL
            await _INSERT.run(conn, _row("a2"))
            raise RuntimeError("after the first statement")
    if db.is_postgres:
        assert len(begun) == 1  # for a2 only
        assert set(await _read_all(db)) == {"a1"}  # committed as it ran; a2 rolled back
        with pytest.raises(RuntimeError, match="before anything else"):
            async with db.write() as conn:
                await _INSERT.run(conn, _row("b1"))
                await _INSERT_ID.rows_alone(conn, _row("b2"))
        assert set(await _read_all(db)) == {"a1"}
    else:
        assert await _read_all(db) == {}  # the block's transaction, rolled back whole


_INSERT_NEW_ID = Statement(
    pg_insert(_rows).on_conflict_do_nothing(index_elements=["id"]).returning(_rows.c.id, _rows.c.at)
)


async def test_several_runs_alone_are_one_atomic_transaction_on_postgresql(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`rows_many_alone`: on PostgreSQL the runs go together with no BEGIN and no COMMIT,
    every run's rows come back (values read as SQLAlchemy reads them) and the rows are
    written as SQLAlchemy writes them; they are all written or none (a run that fails takes
    the others with it), and the call is refused anywhere but first in its block. On SQLite
    the block's transaction holds the runs."""
    async with db.session() as session:
        await session.execute(insert(_rows), [_row("s1"), _row("s2", doc=None)])
    before = await _read_all(db)
    begun = await _begins(db, monkeypatch)
    later = AT + timedelta(days=1)
    async with db.write() as conn:
        rows = await _INSERT_NEW_ID.rows_many_alone(
            conn, [_row("s1", name="again"), _row("m1", at=later), _row("m2", doc=None)]
        )
    assert [(row.id, row.at) for row in rows] == [("m1", later), ("m2", AT)]  # s1 was there
    assert begun == []
    written = await _read_all(db)
    assert written["m1"][2:] == (*before["s1"][2:5], later, *before["s1"][6:])
    assert written["m2"][2:] == before["s2"][2:]
    assert written["s1"] == before["s1"]

    # The second run breaks the unique name: the first is not kept either.
    with pytest.raises(IntegrityError):
        async with db.write() as conn:
            await _INSERT_NEW_ID.rows_many_alone(conn, [_row("f1"), _row("f2", name="name m1")])
    assert set(await _read_all(db)) == {"s1", "s2", "m1", "m2"}
    if db.is_postgres:
        with pytest.raises(RuntimeError, match="before anything else"):
            async with db.write() as conn:
                await _INSERT.run(conn, _row("b1"))
                await _INSERT_NEW_ID.rows_many_alone(conn, [_row("b2")])
        assert set(await _read_all(db)) == {"s1", "s2", "m1", "m2"}


async def _begins(db: Database, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """From now on, one entry per BEGIN asyncpg's adapter sends (none on SQLite)."""
    begun: list[object] = []
    if db.is_postgres:
        adapter = type(await _adapter_of(db))
        start = adapter._start_transaction

        async def counted(self: Any) -> None:
            await start(self)
            if self._transaction is not None:  # a BEGIN was sent
                begun.append(self)

        monkeypatch.setattr(adapter, "_start_transaction", counted)
    return begun


async def _adapter_of(db: Database) -> Any:
    async with db.engine.connect() as conn:
        return (await conn.get_raw_connection()).dbapi_connection


async def test_a_write_commits_its_block_or_rolls_it_back(db: Database) -> None:
    async with db.write() as conn:
        await _INSERT.run(conn, _row("a1"))
        await conn.execute(insert(_rows), _row("a2"))  # through SQLAlchemy, in the same one
    assert set(await _read_all(db)) == {"a1", "a2"}
    with pytest.raises(RuntimeError):
        async with db.write() as conn:
            await _INSERT.run(conn, _row("b1"))
            raise RuntimeError("the caller fails")
    with pytest.raises(IntegrityError):
        async with db.write() as conn:
            await _INSERT.run(conn, _row("b2"))
            await _INSERT.run(conn, _row("b3", name="name a1"))
    assert set(await _read_all(db)) == {"a1", "a2"}
    async with db.write() as conn:  # and the next one is as good as the first
        assert await _BUMP.run(conn, {"row_id": "a1", "expected": 1}) == 1
    assert (await _read_all(db))["a1"][2] == 2


async def test_a_cancelled_write_leaves_nothing(db: Database) -> None:
    started = asyncio.Event()

    async def stuck() -> None:
        async with db.write() as conn:
            await _INSERT.run(conn, _row("a1"))
            started.set()
            await asyncio.Event().wait()  # until cancelled

    task = asyncio.create_task(stuck())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _read_all(db) == {}
    async with db.write() as conn:
        await _INSERT.run(conn, _row("a2"))
    assert set(await _read_all(db)) == {"a2"}


async def test_on_sqlite_a_write_takes_the_process_s_write_turn(db: Database) -> None:
    if not db.is_sqlite:
        pytest.skip("only SQLite's writers take turns")
    order: list[str] = []
    inside, release = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        async with db.write() as conn:
            await _INSERT.run(conn, _row("a1"))
            inside.set()
            await release.wait()
            order.append("first done")

    async def second() -> None:
        await inside.wait()
        async with db.writing():
            order.append("second's turn")

    both = asyncio.gather(first(), second())
    await inside.wait()
    for _ in range(20):  # a free lock is taken without a wait: these turns would do it
        await asyncio.sleep(0)
    release.set()
    await both
    assert order == ["first done", "second's turn"]


async def test_a_query_built_per_call_reads_what_sqlalchemy_reads_compiled_once(
    db: Database,
) -> None:
    """`select_rows`: a SELECT built for each call with its values in it (filters, a LIMIT,
    a case-insensitive search that escapes LIKE's wildcards) reads what the session reads,
    each call with its own values, its shape compiled once; an expanding IN list, which
    cannot be compiled once, is run by the session and reads the same."""
    async with db.session() as session:
        await session.execute(
            insert(_rows),
            [
                _row("a1", n=1, name="Refund 100%"),
                _row("a2", n=2, name="refund 1000", doc=None),
                _row("a3", n=3, name="Shipping", at=AT + timedelta(days=1)),
                _row("a4", n=4, name="Refund later", at=None),
            ],
        )

    def query(word: str, least: int, limit: int, since: datetime) -> object:
        return (
            select(_rows.c.id, _rows.c.n, _rows.c.doc, _rows.c.at)
            .where(
                func.lower(_rows.c.name).contains(word, autoescape=True),
                _rows.c.n >= least,
                _rows.c.at >= since,
            )
            .order_by(_rows.c.n.desc())
            .limit(limit)
        )

    statements._SHAPES.clear()
    cases = [
        ("refund", 1, 10, AT),
        ("refund", 2, 10, AT),
        ("100%", 1, 10, AT),  # the % is a character here, not a wildcard
        ("refund", 1, 1, AT),
        ("", 1, 10, AT + timedelta(hours=1)),
    ]
    async with db.session() as session:
        for case in cases:
            built = query(*case)
            ours = await select_rows(session, built)  # type: ignore[arg-type]
            theirs = list(await session.execute(built))  # type: ignore[call-overload]
            assert [tuple(r) for r in ours] == [tuple(r) for r in theirs], case
            assert all(r.at is None or r.at.tzinfo is not None for r in ours)
        assert [r.id for r in await select_rows(session, query("refund", 1, 10, AT))] == [
            "a2",
            "a1",
        ]
        assert [r.id for r in await select_rows(session, query("100%", 1, 10, AT))] == ["a1"]
        assert [r.id for r in await select_rows(session, query("", 1, 10, AT))] == [
            "a3",
            "a2",
            "a1",
        ]
        assert len(statements._SHAPES) == 1  # one shape, whatever the values
        listed = select(_rows.c.id).where(_rows.c.n.in_([1, 3])).order_by(_rows.c.id)
        assert [r.id for r in await select_rows(session, listed)] == ["a1", "a3"]
        listed = select(_rows.c.id).where(_rows.c.n.in_([2, 4])).order_by(_rows.c.id)
        assert [r.id for r in await select_rows(session, listed)] == ["a2", "a4"]
