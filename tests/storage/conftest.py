"""Fixtures of the storage tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiosqlite
import pytest
from sqlalchemy import MetaData

from storage.db import Database


@asynccontextmanager
async def with_tables(url: str, meta: MetaData) -> AsyncIterator[Database]:
    """A Database on URL with META's tables made afresh, dropped and disposed after."""
    database = Database(url)
    async with database.engine.begin() as conn:
        await conn.run_sync(meta.drop_all)
        await conn.run_sync(meta.create_all)
    try:
        yield database
    finally:
        async with database.engine.begin() as conn:
            await conn.run_sync(meta.drop_all)
        await database.dispose()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The calls queued on SQLite connections' threads, by name."""
    made: list[str] = []
    queue = aiosqlite.Connection._execute

    async def counted(
        self: aiosqlite.Connection, fn: object, *args: object, **kw: object
    ) -> object:
        made.append(getattr(fn, "__name__", repr(fn)))
        return await queue(self, fn, *args, **kw)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return made
