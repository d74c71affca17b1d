"""Test databases made cheaply: every test gets a database migrated to head without paying for
the migrations each time.

SQLite: one file per worker is migrated once and copied for each test (a copy is a millisecond;
alembic takes most of a second). PostgreSQL: one database per worker is migrated once and used as
the TEMPLATE of the first databases made; a database a test has finished with is emptied back to
the template's rows and handed to the next test (a CREATE DATABASE costs a third of a second of
the server's CPU, emptying a few milliseconds). Tests of the migrations themselves take
`empty_database_url` or `postgres_url` and get an empty database.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from storage.db import Database


def _connect(url: str) -> Any:
    parts = make_url(url)
    return asyncpg.connect(
        host=parts.host,
        port=parts.port or 5432,
        user=parts.username,
        database=parts.database,
        password=parts.password,
    )


async def create_pg_database(admin_url: str, template: str | None = None) -> str:
    """A new database on ADMIN_URL's server: empty, or a copy of TEMPLATE."""
    name = f"sbtest_{uuid.uuid4().hex[:12]}"
    conn = await _connect(admin_url)
    try:
        copy = f' TEMPLATE "{template}"' if template else ""
        await conn.execute(f'CREATE DATABASE "{name}"{copy}')
    finally:
        await conn.close()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


async def drop_pg_database(admin_url: str, test_url: str) -> None:
    conn = await _connect(admin_url)
    try:
        name = make_url(test_url).database
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@dataclass
class _Template:
    """A worker's migrated database and what a clean copy of it holds."""

    url: str
    tables: list[str]
    rows: dict[str, list[asyncpg.Record]]
    sequences: list[tuple[str, int | None, bool]]
    version: str
    free: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(make_url(self.url).database)


class PostgresDatabases:
    """This worker's migrated databases on each server it is given."""

    def __init__(self) -> None:
        self._templates: dict[str, _Template] = {}

    async def _template(self, admin_url: str) -> _Template:
        template = self._templates.get(admin_url)
        if template is None:
            url = await create_pg_database(admin_url)
            database = Database(url)
            try:
                await database.migrate()
            finally:
                await database.dispose()
            conn = await _connect(url)
            try:
                tables = [
                    r["tablename"]
                    for r in await conn.fetch(
                        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                        "AND tablename <> 'alembic_version' ORDER BY tablename"
                    )
                ]
                rows = {}
                for table in tables:
                    if found := await conn.fetch(f'SELECT * FROM "{table}"'):
                        rows[table] = found
                sequences = [
                    (r["sequencename"], r["last_value"], r["last_value"] is not None)
                    for r in await conn.fetch(
                        "SELECT sequencename, last_value FROM pg_sequences "
                        "WHERE schemaname = 'public'"
                    )
                ]
                version = await conn.fetchval("SELECT version_num FROM alembic_version")
            finally:
                await conn.close()
            template = _Template(url, tables, rows, sequences, version)
            self._templates[admin_url] = template
        return template

    async def take(self, admin_url: str) -> str:
        """A database at head holding only what the migrations put there."""
        template = await self._template(admin_url)
        if template.free:
            return template.free.pop()
        return await create_pg_database(admin_url, template.name)

    async def give_back(self, admin_url: str, url: str) -> None:
        """Empty URL back to the template's rows for the next test; dropped instead if it
        cannot be (its schema was changed, say)."""
        template = self._templates[admin_url]
        try:
            await self._reset(template, url)
        except (OSError, asyncpg.PostgresError):
            await drop_pg_database(admin_url, url)
            return
        template.free.append(url)

    @staticmethod
    async def _reset(template: _Template, url: str) -> None:
        conn = await _connect(url)
        try:
            # Sessions a test left open (its app's pool) would hold locks and see the reset.
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            tables = [
                r["tablename"]
                for r in await conn.fetch(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'alembic_version' ORDER BY tablename"
                )
            ]
            version = await conn.fetchval("SELECT version_num FROM alembic_version")
            if tables != template.tables or version != template.version:
                raise asyncpg.PostgresError("the schema is not the template's")
            async with conn.transaction():
                # Replica mode skips the foreign-key triggers: every table is emptied at once.
                statements = ["SET LOCAL session_replication_role = replica"]
                statements += [f'DELETE FROM "{table}"' for table in tables]
                for name, last, called in template.sequences:
                    if called:
                        statements.append(f"SELECT setval('\"{name}\"', {last}, true)")
                    else:
                        statements.append(f'ALTER SEQUENCE "{name}" RESTART')
                await conn.execute(";\n".join(statements))
                for table, rows in template.rows.items():
                    records = [tuple(r.values()) for r in rows]
                    columns = list(rows[0].keys())
                    await conn.copy_records_to_table(table, records=records, columns=columns)
        finally:
            await conn.close()

    async def drop_all(self) -> None:
        for admin_url, template in self._templates.items():
            for url in [*template.free, template.url]:
                await drop_pg_database(admin_url, url)
        self._templates.clear()


class SqliteTemplate:
    """This worker's SQLite file migrated to head, copied for each test."""

    def __init__(self) -> None:
        self._file: Path | None = None

    async def copy_to(self, target: Path, workdir: Path) -> str:
        if self._file is None:
            template = workdir / "template.db"
            database = Database(f"sqlite+aiosqlite:///{template}")
            try:
                await database.migrate()
            finally:
                await database.dispose()
            self._file = template
        shutil.copyfile(self._file, target)
        return f"sqlite+aiosqlite:///{target}"
