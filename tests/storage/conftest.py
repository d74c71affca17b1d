"""Fixtures of the storage tests."""

from __future__ import annotations

import aiosqlite
import pytest


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
