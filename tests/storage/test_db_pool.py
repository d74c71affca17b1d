"""The SQLite pool hands back connections without a transaction, whatever the last user did."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from storage.db import Database


async def test_a_connection_returned_inside_a_transaction_is_rolled_back(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'pool.db'}")
    try:
        async with db.engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
        conn = await db.engine.connect()
        await conn.execute(text("INSERT INTO t VALUES (1)"))  # never committed
        driver = (await conn.get_raw_connection()).driver_connection
        assert driver.in_transaction
        await conn.close()
        assert not driver.in_transaction
        async with db.engine.connect() as again:
            assert await again.scalar(text("SELECT count(*) FROM t")) == 0
        # A committed connection goes back as it is, and its write stays.
        async with db.engine.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES (2)"))
        async with db.engine.connect() as again:
            assert await again.scalar(text("SELECT count(*) FROM t")) == 1
    finally:
        await db.dispose()
