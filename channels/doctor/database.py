"""The database: reachable, and its schema at the newest migration (what /readyz asks)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy.engine import make_url

from channels.doctor.report import Finding, fail, ok, warn
from config import Settings
from config.command import command
from storage.db import Database

NAME = "database"


def shown_url(database_url: str) -> str:
    """DATABASE_URL with its password masked."""
    return make_url(database_url).render_as_string(hide_password=True)


def password_of(database_url: str) -> str | None:
    password = make_url(database_url).password
    return None if password is None else str(password)


async def check_database(settings: Settings, seconds: float) -> list[Finding]:
    url = settings.database_url
    shown = shown_url(url)
    parsed = make_url(url)
    if settings.is_sqlite and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database)
        if not await asyncio.to_thread(path.exists):
            where = await asyncio.to_thread(path.absolute)
            # Not created here: connecting would leave an empty file behind.
            return [
                warn(
                    NAME,
                    f"{shown}: no database file yet at {where} (`{command()} "
                    "migrate` creates it; `serve` does on SQLite)",
                )
            ]
    db = Database(url)
    try:
        await db.ping()
        pending = await db.pending_migrations()
    except Exception as exc:  # the failure is the finding
        return [fail(NAME, f"DATABASE_URL: {shown} unreachable: {type(exc).__name__}: {exc}")]
    finally:
        await db.dispose()
    if not pending:
        return [ok(NAME, f"{shown}: reachable, migrations at head")]
    count = f"{len(pending)} migration{'s' if len(pending) != 1 else ''} pending"
    if settings.migrates_on_start:
        return [warn(NAME, f"{shown}: reachable, {count}; `serve` applies them when it starts")]
    return [fail(NAME, f"DATABASE_URL: {shown}: {count}; run `{command()} migrate`")]
