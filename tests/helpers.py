"""Test helpers: await a condition with a bounded timeout instead of sleeping; read SQLite's
query plan for a statement; see what PostgreSQL's driver was asked to run, and how."""

from __future__ import annotations

import asyncio
import inspect
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from config.database import sqlite_file

if TYPE_CHECKING:
    from storage.db import Database

T = TypeVar("T")


async def wait_until(
    predicate: Callable[[], T | Awaitable[T]],
    *,
    timeout: float = 5.0,  # noqa: ASYNC109 - a bounded wait is this helper's purpose
    interval: float = 0.01,
    message: str | None = None,
) -> T:
    """Poll ``predicate`` (sync or async) until it returns a truthy value, and return that value.

    A predicate that raises ``AssertionError`` counts as "not yet", so assert-style
    predicates work; the last such failure is chained to the timeout error.

    Raises:
        AssertionError: the predicate was still falsy after ``timeout`` seconds; the message
            names the predicate (or uses ``message``) and shows its last value.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last_value: object = None
    last_error: AssertionError | None = None
    while True:
        try:
            value = predicate()
            if inspect.isawaitable(value):
                value = await value
        except AssertionError as exc:
            last_error = exc
        else:
            last_error = None
            last_value = value
            if value:
                return value
        if loop.time() >= deadline:
            what = message or f"condition {_describe(predicate)}"
            detail = f"last error: {last_error}" if last_error else f"last value: {last_value!r}"
            raise AssertionError(f"{what} not met within {timeout:g}s ({detail})") from last_error
        await asyncio.sleep(interval)


def _describe(predicate: Callable[..., object]) -> str:
    name = getattr(predicate, "__qualname__", None) or repr(predicate)
    try:
        source = inspect.getsource(predicate).strip()
    except (OSError, TypeError):
        return name
    if name.endswith("<lambda>") and len(source) <= 200:
        return source
    return name


async def settled(
    db: Database,
    *,
    timeout: float = 15.0,  # noqa: ASYNC109 - a bounded wait
    interval: float = 0.01,
    message: str = "tasks and outbox settled",
) -> None:
    """Wait until no task is queued or running and no reply is pending or being sent."""
    from sqlalchemy import func, select

    from storage.models import OutboxRow, TaskRow

    async def quiet() -> bool:
        async with db.session() as session:
            busy = await session.scalar(
                select(func.count())
                .select_from(TaskRow)
                .where(TaskRow.status.in_(("queued", "running")))
            )
            unsent = await session.scalar(
                select(func.count())
                .select_from(OutboxRow)
                .where(OutboxRow.status.in_(("pending", "sending")))
            )
        return busy == 0 and unsent == 0

    await wait_until(quiet, timeout=timeout, interval=interval, message=message)


def query_plan(db: Database, sql: str) -> list[tuple[int, int, int, str]]:
    """SQLite's plan for SQL on DB's file (`EXPLAIN QUERY PLAN`, every parameter NULL): rows
    of (id, parent, unused, step). The caller skips on other databases."""
    path = sqlite_file(db.url)
    assert path is not None, "a SQLite file"
    reader = sqlite3.connect(path)
    try:
        return list(reader.execute(f"EXPLAIN QUERY PLAN {sql}", [None] * sql.count("?")))
    finally:
        reader.close()


@dataclass
class DriverStatements:
    """Every statement asyncpg's adapter prepared and ran, each as (SQL, whether a BEGIN had
    been sent for it, the connection's isolation level): `in_transaction` False with level
    "autocommit" is a statement the server committed as it ran it."""

    statements: list[tuple[str, bool, str]] = field(default_factory=list)

    def matching(self, *parts: str) -> list[tuple[str, bool, str]]:
        return [s for s in self.statements if all(part in s[0] for part in parts)]


def driver_statements(monkeypatch: pytest.MonkeyPatch) -> DriverStatements:
    """Record what asyncpg's adapter runs one statement at a time from now on (its
    executemany is not recorded)."""
    from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_cursor

    record = DriverStatements()
    run = AsyncAdapt_asyncpg_cursor._prepare_and_execute

    async def recorded(self: Any, operation: str, parameters: Any) -> None:
        adapted = self._adapt_connection
        record.statements.append(
            (operation, adapted._transaction is not None, adapted.isolation_level)
        )
        await run(self, operation, parameters)

    monkeypatch.setattr(AsyncAdapt_asyncpg_cursor, "_prepare_and_execute", recorded)
    return record
