"""`Database.kept_session`: the pipeline's transactions on connections kept between them, on
both databases: reused when the last one committed, never when it failed, rolled back when it
was left uncommitted, and given back to the pool when a restart cut them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from storage.db import KEPT_CONNECTIONS, Database
from tests.helpers import wait_until


@pytest.fixture
async def kept_db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    async with database.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE kept_items (name VARCHAR(20))"))
    try:
        yield database
    finally:
        await database.dispose()


def checkouts(db: Database) -> list[Any]:
    """The DBAPI connections the pool hands out from now on, in order."""
    seen: list[Any] = []
    event.listen(db.engine.sync_engine.pool, "checkout", lambda dbapi, *_: seen.append(dbapi))
    return seen


async def count(db: Database) -> int:
    async with db.engine.connect() as conn:
        return int(await conn.scalar(text("SELECT count(*) FROM kept_items")) or 0)


async def test_a_committed_session_s_connection_serves_the_next_one(kept_db: Database) -> None:
    taken = checkouts(kept_db)
    for n in range(5):
        async with kept_db.kept_session() as session:
            await session.execute(text("INSERT INTO kept_items VALUES (:n)"), {"n": f"row {n}"})
            await session.commit()
    assert len(taken) == 1  # one connection from the pool, kept for the other four
    assert kept_db.engine.pool.checkedout() == 1  # type: ignore[attr-defined]
    assert await count(kept_db) == 5


async def test_what_is_left_uncommitted_is_rolled_back(kept_db: Database) -> None:
    taken = checkouts(kept_db)
    async with kept_db.kept_session() as session:
        await session.execute(text("INSERT INTO kept_items VALUES ('dropped')"))
    async with kept_db.kept_session() as session:
        assert (await session.execute(text("SELECT count(*) FROM kept_items"))).scalar() == 0
        await session.execute(text("INSERT INTO kept_items VALUES ('kept')"))
        await session.commit()
    assert len(taken) == 1  # the same connection, clean again
    assert await count(kept_db) == 1


async def test_after_a_failure_no_kept_connection_is_used_again(kept_db: Database) -> None:
    taken = checkouts(kept_db)
    failing_holds_one, other_kept = asyncio.Event(), asyncio.Event()

    async def hold_one() -> None:  # a second connection kept, beside the failing one
        await failing_holds_one.wait()
        async with kept_db.kept_session() as session:
            await session.execute(text("SELECT 1"))
            await session.commit()
        other_kept.set()

    async def fail() -> None:
        async with kept_db.kept_session() as session:
            await session.execute(text("INSERT INTO kept_items VALUES ('lost')"))
            failing_holds_one.set()
            await asyncio.wait_for(other_kept.wait(), 10)
            raise RuntimeError("the task failed")

    results = await asyncio.gather(hold_one(), fail(), return_exceptions=True)
    assert results[0] is None and isinstance(results[1], RuntimeError)
    assert len(taken) == 2
    assert kept_db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    async with kept_db.kept_session() as session:
        await session.execute(text("SELECT 1"))
        await session.commit()
    assert len(taken) == 3  # a new one from the pool
    assert await count(kept_db) == 0


async def test_a_cancelled_session_leaves_nothing_behind(kept_db: Database) -> None:
    started = asyncio.Event()

    async def cancelled() -> None:
        async with kept_db.kept_session() as session:
            await session.execute(text("INSERT INTO kept_items VALUES ('cancelled')"))
            started.set()
            await asyncio.Event().wait()  # until cancelled

    task = asyncio.create_task(cancelled())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert kept_db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    assert await count(kept_db) == 0


async def test_no_more_are_kept_than_a_node_processes_at_once(kept_db: Database) -> None:
    release = asyncio.Event()

    async def one() -> None:
        async with kept_db.kept_session() as session:
            await session.execute(text("SELECT 1"))
            await release.wait()
            await session.commit()

    tasks = [asyncio.create_task(one()) for _ in range(KEPT_CONNECTIONS + 3)]
    await wait_until(
        lambda: kept_db.engine.pool.checkedout() == KEPT_CONNECTIONS + 3,  # type: ignore[attr-defined]
        timeout=10,
        message="every session holding its connection",
    )
    release.set()
    await asyncio.gather(*tasks)
    assert kept_db.engine.pool.checkedout() == KEPT_CONNECTIONS  # type: ignore[attr-defined]
    await kept_db.dispose()
    assert kept_db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_a_connection_cut_by_the_server_is_replaced(kept_db: Database) -> None:
    """A restart or failover cuts every connection: the transaction on a kept one fails as
    invalidated (which the pipeline runs again), and the next one runs on a new connection."""
    if not kept_db.is_postgres:
        pytest.skip("only a server cuts connections; SQLite's are files")
    async with kept_db.kept_session() as session:
        pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar()
        await session.commit()
    async with kept_db.engine.connect() as admin:
        await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    with pytest.raises(DBAPIError) as failed:
        async with kept_db.kept_session() as session:
            await session.execute(text("SELECT 1"))
    assert failed.value.connection_invalidated
    async with kept_db.kept_session() as session:
        assert (await session.execute(text("SELECT pg_backend_pid()"))).scalar() != pid
        await session.execute(text("INSERT INTO kept_items VALUES ('after')"))
        await session.commit()
    assert await count(kept_db) == 1
