"""Hot-path statements compiled once and run by the database driver itself.

A statement through SQLAlchemy's async session costs some 45 µs of CPU before the database
sees it (a greenlet, the statement's cache key, an execution context, the parameters'
processing, a result object), where SQLite runs a row's update in 5. The statements the
gateway makes for every request (a task's fenced update, its replies' insert, a receipt, an
outbox row's progress, the journal's insert) are written once as SQLAlchemy Core, compiled
here once per database dialect (and per set of columns given) with SQLAlchemy's own
compiler, and each run hands the compiled SQL and the parameters, processed by the column
types' own bind processors, straight to the driver's cursor on the session's connection: in
the session's transaction, behind the connection's lock, with SQLite's `inline` placement
(`storage.sqlite_driver`) and PostgreSQL's prepared statement cache (asyncpg's, as SQLAlchemy
uses it). Errors are SQLAlchemy's (`DBAPIError` and its kinds), and a connection found cut is
invalidated as SQLAlchemy would, so callers handle failures exactly as before.

A query built per call (a view's filters decide its WHERE clauses) is run the same way by
`select_rows`: compiled once per shape, as SQLAlchemy's own statement cache knows shapes (the
cache key), with this call's values read from the query's bound parameters.

What is not here: statements with expanding IN lists or literal-rendered parameters (refused
when compiled; `select_rows` hands those to the session), ORM objects (these are Core
statements: no identity map, no unit of work).
"""

from __future__ import annotations

import collections
import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql import ClauseElement, Select

from storage import sqlite_driver


@dataclass(frozen=True)
class _Plan:
    """A statement compiled for one dialect: its SQL, which parameter goes where, how each is
    processed, the defaults SQLAlchemy would fill in, and how result rows are read."""

    sql: str
    positions: tuple[str, ...]
    binds: tuple[Any, ...]  # per position: the column type's bind processor, or None
    fixed: dict[str, Any]  # values bound in the statement itself, by name
    defaults: tuple[tuple[str, Any], ...]  # (key, column default) for values not given
    row: Any  # a namedtuple class for result rows, or None
    types: tuple[Any, ...]  # per result column, its type
    dialect: Dialect
    # The compiled name of each bound parameter, by the parameter's key (`select_rows`).
    names: dict[str, str]
    # Each name once with its processor, when a name is bound at several positions (SQLite
    # has a `?` per occurrence): its value is then processed once. None otherwise.
    distinct: tuple[tuple[str, Any], ...] | None = None
    # A SELECT that locks nothing (no FOR UPDATE or SHARE): see `reads_before_writes`.
    reads_only: bool = False
    # (position, processor) of each result column whose type has a result processor, made
    # at the first rows: on PostgreSQL it depends on the type the server describes.
    results: list[tuple[tuple[int, Any], ...]] = field(default_factory=list, compare=False)

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        if self.fixed:
            params = {**self.fixed, **params}
        if self.defaults:
            params = dict(params)
            for key, default in self.defaults:
                if key not in params:
                    params[key] = default.arg(None) if default.is_callable else default.arg
        if self.distinct is not None:
            processed = {
                name: value if process is None else process(value)
                for name, process in self.distinct
                for value in (params[name],)
            }
            return list(map(processed.__getitem__, self.positions))
        return [
            value if process is None else process(value)
            for process, value in zip(
                self.binds, map(params.__getitem__, self.positions), strict=True
            )
        ]

    def read(self, raw: Sequence[Any], description: Any) -> list[Any]:
        if self.row is None or not raw:
            return []
        if not self.results:
            processors = (
                type_._cached_result_processor(self.dialect, column[1])
                for type_, column in zip(self.types, description, strict=True)
            )
            # Only the columns whose type has a processor are touched: most have none.
            self.results.append(
                tuple((at, process) for at, process in enumerate(processors) if process)
            )
        processed = self.results[0]
        make = self.row._make  # raises on a row of another length
        if not processed:
            return [make(row) for row in raw]
        rows = []
        for row in raw:
            values = list(row)
            for at, process in processed:
                values[at] = process(values[at])
            rows.append(make(values))
        return rows


def _plan(statement: ClauseElement, dialect: Dialect, keys: Sequence[str] | None) -> _Plan:
    compiled: Any = statement.compile(
        dialect=dialect, column_keys=list(keys) if keys is not None else None
    )
    if compiled.literal_execute_params or compiled.post_compile_params:
        raise ValueError("a statement with expanding or literal parameters cannot be compiled once")
    processors = compiled._bind_processors
    positions = tuple(compiled.positiontup or ())
    # What SQLAlchemy computes in Python for columns not given: an INSERT's defaults, an
    # UPDATE's `onupdate` values.
    defaults = tuple((column.key, column.default) for column in compiled.insert_prefetch) + tuple(
        (column.key, column.onupdate) for column in compiled.update_prefetch
    )
    for key, default in defaults:
        if default is None or not (default.is_scalar or default.is_callable):
            raise ValueError(f"the default of {key!r} is computed at each execution")
    # Values the statement carries itself (a LIMIT's number, a literal compared with).
    fixed = {
        name: bind.effective_value
        for bind, name in compiled.bind_names.items()
        if name in positions and not bind.required and name not in dict(defaults)
    }
    names = [column[0] for column in compiled._result_columns]
    row: Any = collections.namedtuple("Row", names, rename=True) if names else None
    return _Plan(
        compiled.string,
        positions,
        tuple(processors.get(name) for name in positions),
        fixed,
        defaults,
        row,
        tuple(column[3] for column in compiled._result_columns),
        dialect,
        {bind.key: name for bind, name in compiled.bind_names.items()},
        distinct=(
            tuple((name, processors.get(name)) for name in dict.fromkeys(positions))
            if len(set(positions)) < len(positions)
            else None
        ),
        reads_only=bool(getattr(statement, "is_select", False))
        and getattr(statement, "_for_update_arg", None) is None,
    )


class Statement:
    """STATEMENT (SQLAlchemy Core, bound parameters only) compiled once per dialect and set
    of given columns, run by the driver on a session's or connection's own connection."""

    def __init__(self, statement: ClauseElement) -> None:
        self._statement = statement
        self._plans: dict[tuple[str, tuple[str, ...] | None], _Plan] = {}

    @property
    def statement(self) -> Any:
        """The SQLAlchemy statement, to build another from."""
        return self._statement

    def plan(self, dialect: Dialect, keys: Sequence[str] | None = None) -> _Plan:
        key = (dialect.name, tuple(keys) if keys is not None else None)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = _plan(self._statement, dialect, keys)
        return plan

    def _plan_for(self, dialect: Dialect, params: Mapping[str, Any]) -> _Plan:
        """The plan for a run with PARAMS: an INSERT's columns are the ones given."""
        return self.plan(dialect, list(params) if _is_insert(self._statement) else None)

    async def run(self, on: AsyncSession | AsyncConnection, params: Mapping[str, Any]) -> int:
        """Run once with PARAMS; the rows it changed (the driver's row count)."""
        _rows, count = await self._execute(on, [params], many=False)
        return count

    async def rows(
        self, on: AsyncSession | AsyncConnection, params: Mapping[str, Any]
    ) -> list[Any]:
        """Run once with PARAMS; the rows it returned (named tuples, values as SQLAlchemy
        reads them)."""
        rows, _count = await self._execute(on, [params], many=False)
        return rows

    async def rows_alone(
        self, on: AsyncSession | AsyncConnection, params: Mapping[str, Any]
    ) -> list[Any]:
        """As `rows`, for a statement that is a transaction of its own, made first on ON: a
        connection of `Database.write` before anything else in its block, or a session that
        has begun nothing on the server and holds nothing to flush (`nothing_begun`). On
        PostgreSQL it runs without BEGIN and COMMIT (the server commits it as it runs it): two
        round trips of three saved, each a write to the socket and a wait for the answer.
        Elsewhere as `rows` (SQLite begins a transaction before the write; the block or the
        session commits it)."""
        rows, _count = await self._alone(on, params)
        return rows

    async def run_alone(self, on: AsyncSession | AsyncConnection, params: Mapping[str, Any]) -> int:
        """As `run`, for a statement that is a transaction of its own (see `rows_alone`)."""
        _rows, count = await self._alone(on, params)
        return count

    async def _alone(
        self, on: AsyncSession | AsyncConnection, params: Mapping[str, Any]
    ) -> tuple[list[Any], int]:
        connection, adapted = await driver(on)
        if connection.dialect.name != "postgresql":
            return await self._execute(on, [params], many=False)
        _refuse_begun(on, connection, adapted)
        plan = self._plan_for(connection.dialect, params)
        return await _autocommitted(connection, adapted, plan, [params], many=False)

    async def rows_many_alone(
        self, on: AsyncConnection, params: Sequence[Mapping[str, Any]]
    ) -> list[Any]:
        """As `rows_alone`, run once per mapping in PARAMS (an INSERT's columns are the first
        mapping's keys), every run's rows in order. On PostgreSQL the runs go to the server
        together with no BEGIN and COMMIT (asyncpg's `fetchmany`: one round trip, and atomic:
        all the runs or none). Elsewhere once per mapping, in ON's transaction."""
        if not params:
            return []
        connection, adapted = await driver(on)
        if connection.dialect.name != "postgresql":
            rows: list[Any] = []
            for one in params:
                rows += (await self._execute(on, [one], many=False))[0]
            return rows
        _refuse_begun(on, connection, adapted)
        plan = self._plan_for(connection.dialect, params[0])
        return await _fetched_many(connection, adapted, plan, params)

    async def run_many(
        self, on: AsyncSession | AsyncConnection, params: Sequence[Mapping[str, Any]]
    ) -> int:
        """Run once per mapping in PARAMS (the driver's executemany; an INSERT's columns are
        the first mapping's keys, and every mapping gives the same ones); the rows changed
        in all, where the driver counts them (SQLite's does, asyncpg's does not: -1)."""
        if not params:
            return 0
        _rows, count = await self._execute(on, params, many=True)
        return count

    async def _execute(
        self,
        on: AsyncSession | AsyncConnection,
        params: Sequence[Mapping[str, Any]],
        *,
        many: bool,
    ) -> tuple[list[Any], int]:
        connection, adapted = await driver(on)
        plan = self._plan_for(connection.dialect, params[0])
        if _read_outside(on, adapted, plan):
            return await _autocommitted(connection, adapted, plan, params, many=many)
        return await _run_plan(connection, adapted, plan, params, many=many)


def _refuse_begun(
    on: AsyncSession | AsyncConnection, connection: AsyncConnection, adapted: Any
) -> None:
    """A statement alone must come first in its block or session: nothing begun on the server
    and, for a session, nothing waiting to be flushed."""
    began = _to_flush(on) if isinstance(on, AsyncSession) else connection.in_transaction()
    if adapted._transaction is not None or began:
        raise RuntimeError("a statement alone runs before anything else in its transaction")


async def _run_plan(
    connection: AsyncConnection,
    adapted: Any,
    plan: _Plan,
    params: Sequence[Mapping[str, Any]],
    *,
    many: bool,
) -> tuple[list[Any], int]:
    """PLAN run by the driver on ADAPTED (CONNECTION's) with PARAMS: its rows and row count."""
    dialect = connection.dialect
    if many:
        arguments: Any = [plan.arguments(p) for p in params]
    else:
        arguments = plan.arguments(params[0])
    cursor: Any = adapted.cursor()
    try:
        if dialect.name == "sqlite":
            await cursor._trip(plan.sql, arguments, many=many)
        elif many:
            await cursor._executemany(plan.sql, arguments)
        else:
            await cursor._prepare_and_execute(plan.sql, arguments)
        raw, description, count = list(cursor._rows), cursor.description, cursor.rowcount
    except Exception as error:
        await raise_as_sqlalchemy(connection, plan.sql, arguments, error, adapted)
    finally:
        cursor.close()
    return plan.read(raw, description), count


async def _fetched_many(
    connection: AsyncConnection, adapted: Any, plan: _Plan, params: Sequence[Mapping[str, Any]]
) -> list[Any]:
    """PLAN run on PostgreSQL once per mapping in PARAMS, outside any transaction the adapter
    began, through the prepared statement SQLAlchemy's adapter keeps for its SQL."""
    arguments = [plan.arguments(p) for p in params]
    dialect: Any = connection.dialect  # the asyncpg dialect: when its type caches were cleared
    try:
        async with adapted._execute_mutex:
            prepared, attributes = await adapted._prepare(
                plan.sql, dialect._invalidate_schema_cache_asof
            )
            raw = await prepared.fetchmany(arguments)
    except Exception as error:
        await raise_as_sqlalchemy(connection, plan.sql, arguments, error, adapted)
    description = [(attribute.name, attribute.type.oid) for attribute in attributes or ()]
    return plan.read(raw, description)


async def _autocommitted(
    connection: AsyncConnection,
    adapted: Any,
    plan: _Plan,
    params: Sequence[Mapping[str, Any]],
    *,
    many: bool,
) -> tuple[list[Any], int]:
    """PLAN run on PostgreSQL with no BEGIN and no COMMIT: the server commits it as it runs it
    (one round trip, where a transaction of its own takes three)."""
    level = adapted.isolation_level
    adapted.isolation_level = "autocommit"
    try:
        return await _run_plan(connection, adapted, plan, params, many=many)
    finally:
        adapted.isolation_level = level


_READS_BEFORE_WRITES = "storage.statements.reads_before_writes"  # a session's info key


@contextlib.contextmanager
def reads_before_writes(session: AsyncSession) -> Iterator[None]:
    """While open, SESSION's reads run by the driver (`Statement`, `select_rows`) before its
    transaction has begun run outside it on PostgreSQL, each committed as the server runs it
    (no BEGIN is sent for them); its first other statement begins the transaction as usual,
    and every read after that is in it. At PostgreSQL's READ COMMITTED, which the gateway
    uses, each statement of a transaction reads its own snapshot anyway, so a read before
    any write sees what it would see inside; only a read that locks (FOR UPDATE) differs, and
    it is never run so. With nothing written when the reads are done, the session's writes
    can then be one statement alone (`run_alone`): a read request's transaction costs no
    BEGIN and no COMMIT. Elsewhere it changes nothing."""
    session.info[_READS_BEFORE_WRITES] = True
    try:
        yield
    finally:
        session.info.pop(_READS_BEFORE_WRITES, None)


def _read_outside(on: AsyncSession | AsyncConnection, adapted: Any, plan: _Plan) -> bool:
    return (
        plan.reads_only
        and isinstance(on, AsyncSession)
        and plan.dialect.name == "postgresql"
        and adapted._transaction is None
        and bool(on.info.get(_READS_BEFORE_WRITES))
    )


def _to_flush(session: AsyncSession) -> bool:
    """Whether SESSION holds ORM changes its next flush would write."""
    synced = session.sync_session
    return bool(synced.new or synced.dirty or synced.deleted)


async def nothing_begun(session: AsyncSession) -> bool:
    """Whether SESSION has begun no transaction in the database and holds no changes to flush:
    it has only read, and what it would write may be written apart from it. On PostgreSQL no
    BEGIN was sent (`reads_before_writes`); on SQLite, whose driver begins a transaction only
    before a write, none was made."""
    if _to_flush(session):
        return False
    connection, adapted = await driver(session)
    if connection.dialect.name == "sqlite":
        return not adapted.driver_connection.in_transaction
    return adapted._transaction is None


# The shapes `select_rows` has met, by dialect and SQLAlchemy's cache key: the plan and, in
# the order the cache key lists a query's bound parameters, the compiled name of each; None
# for a shape the driver cannot run as compiled once (an expanding IN list).
_SHAPES: collections.OrderedDict[tuple[str, Any], tuple[_Plan, tuple[str, ...]] | None] = (
    collections.OrderedDict()
)
_SHAPES_KEPT = 256  # the most recently used
_UNKNOWN: Any = object()


async def select_rows(on: AsyncSession | AsyncConnection, query: Select[Any]) -> list[Any]:
    """The rows of QUERY, a SELECT of columns built for this call with its values in it, run
    by the driver (named tuples, values as SQLAlchemy reads them). Its shape is compiled once
    and known again by SQLAlchemy's cache key, which also lists this call's values; a shape
    the driver cannot run so is executed through ON as usual. Its columns' names must differ."""
    key = query._generate_cache_key()
    if key is None:  # a construct SQLAlchemy does not cache either
        return list(await on.execute(query))
    connection, adapted = await driver(on)
    dialect = connection.dialect
    shape = (dialect.name, key.key)
    entry = _SHAPES.get(shape, _UNKNOWN)
    if entry is _UNKNOWN:
        entry = _SHAPES[shape] = _shape_plan(query, key.bindparams, dialect)
        if len(_SHAPES) > _SHAPES_KEPT:
            _SHAPES.popitem(last=False)
    else:
        _SHAPES.move_to_end(shape)
    if entry is None:
        return list(await on.execute(query))
    plan, names = entry
    params = {name: bind.effective_value for name, bind in zip(names, key.bindparams, strict=True)}
    run = _autocommitted if _read_outside(on, adapted, plan) else _run_plan
    rows, _count = await run(connection, adapted, plan, [params], many=False)
    return rows


def _shape_plan(
    query: Select[Any], binds: Sequence[Any], dialect: Dialect
) -> tuple[_Plan, tuple[str, ...]] | None:
    """QUERY's plan, and the compiled names of BINDS (its cache key's bound parameters)."""
    try:
        plan = _plan(query, dialect, None)
    except ValueError:
        return None
    return plan, tuple(plan.names[bind.key] for bind in binds)


_DRIVER = "storage.statements.driver"  # the key of `driver`'s note in a session's info


async def driver(on: AsyncSession | AsyncConnection) -> tuple[AsyncConnection, Any]:
    """ON's connection and the DBAPI adapter's connection under it. Asking SQLAlchemy for
    them costs two greenlets (some 25 µs of CPU, half of what a statement costs here), so a
    session's are noted in its info for the rest of its transaction, and a connection's
    are read from it directly unless it must be revalidated (then SQLAlchemy does that)."""
    if isinstance(on, AsyncSession):
        transaction = on.sync_session.get_transaction()
        noted = on.info.get(_DRIVER)
        if noted is not None and transaction is not None and transaction.is_active:
            owner, connection, adapted = noted
            if owner is transaction and not connection.sync_connection.invalidated:
                return connection, adapted
        connection = await on.connection()
        adapted = await _adapted(connection)
        on.info[_DRIVER] = (on.sync_session.get_transaction(), connection, adapted)
        return connection, adapted
    return on, await _adapted(on)


async def _adapted(connection: AsyncConnection) -> Any:
    synced = connection.sync_connection
    if synced is not None and not synced.invalidated and not synced.closed:
        return synced.connection.dbapi_connection
    return (await connection.get_raw_connection()).dbapi_connection


def _is_insert(statement: ClauseElement) -> bool:
    return getattr(statement, "is_insert", False)


async def commit(connection: AsyncConnection, adapted: Any) -> None:
    """The transaction the driver began on ADAPTED (CONNECTION's), committed by the driver;
    nothing if none was begun. A failure is raised as SQLAlchemy's, after a rollback."""
    try:
        if connection.dialect.name == "sqlite":
            await sqlite_driver.commit(adapted)
        elif adapted._transaction is not None:
            await adapted._call_and_discard(adapted._transaction.commit)
    except Exception as error:
        if not connection.invalidated:
            await rollback(connection, adapted)
        await raise_as_sqlalchemy(connection, "COMMIT", (), error, adapted)


async def rollback(connection: AsyncConnection, adapted: Any) -> None:
    """The transaction the driver began on ADAPTED rolled back, if there is one."""
    if connection.dialect.name == "sqlite":
        await sqlite_driver.rollback(adapted)
    elif adapted._transaction is not None:
        await adapted._call_and_discard(adapted._transaction.rollback)


async def raise_as_sqlalchemy(
    connection: AsyncConnection, sql: str, arguments: Any, error: Exception, adapted: Any
) -> NoReturn:
    """ERROR, raised by the driver running SQL on CONNECTION, as SQLAlchemy would raise it:
    the adapter's translation of the driver's error, wrapped in SQLAlchemy's exception of its
    kind, the connection invalidated if it was found cut."""
    dialect = connection.dialect
    dbapi = dialect.loaded_dbapi
    if not isinstance(error, dbapi.Error):
        try:
            adapted._handle_exception(error)
        except Exception as translated:
            error = translated
    if not isinstance(error, dbapi.Error):
        raise error
    cut = dialect.is_disconnect(error, adapted, None)
    if cut:
        await connection.invalidate(error)
    raise DBAPIError.instance(
        sql, arguments, error, dbapi.Error, connection_invalidated=cut, dialect=dialect
    ) from error
