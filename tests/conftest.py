"""Fixtures: settings, a fresh database per test (SQLite, and PostgreSQL if configured)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from api.app import build_app
from config import Settings
from storage.db import Database
from tests.databases import (
    PostgresDatabases,
    SqliteTemplate,
    create_pg_database,
    drop_pg_database,
)

pytest_plugins = ["tests.sims.fixtures"]

PG_SKIP_REASON = "TEST_DATABASE_URL is not set: PostgreSQL tests need a server (CI sets it)"


def make_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings for a test: nothing read from the developer's environment or .env."""
    values: dict[str, Any] = {
        "DATABASE_URL": database_url,
        "SWITCHBOARD_POLL_INTERVAL": 0.05,
        "SWITCHBOARD_SHUTDOWN_GRACE": 5,
        "LOG_FORMAT": "text",
        "SWITCHBOARD_AUTO_MIGRATE": True,
        # Off unless a test is about it: seeded schedules would otherwise fire whenever the
        # wall clock happens to pass their time during a run. Scheduler tests turn it on.
        "SWITCHBOARD_SCHEDULER": False,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's .env or provider credentials."""
    for name in Settings.model_fields:
        alias = Settings.model_fields[name].alias
        if alias:
            monkeypatch.delenv(alias, raising=False)
    monkeypatch.chdir(tmp_path)


_POSTGRES = PostgresDatabases()
_SQLITE = SqliteTemplate()


@pytest.fixture(scope="session", autouse=True)
def _drop_templates() -> Iterator[None]:
    yield
    asyncio.run(_POSTGRES.drop_all())


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'switchboard.db'}"


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    admin = os.environ.get("TEST_DATABASE_URL")
    if not admin:
        pytest.skip(PG_SKIP_REASON)
    url = await create_pg_database(admin)
    try:
        yield url
    finally:
        await drop_pg_database(admin, url)


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """Runs the test once on SQLite and once on PostgreSQL (skipped without TEST_DATABASE_URL);
    either database comes migrated to head (a copy of this worker's template)."""
    if request.param == "sqlite":
        target = tmp_path / "switchboard.db"
        yield await _SQLITE.copy_to(target, tmp_path_factory.getbasetemp())
        return
    admin = os.environ.get("TEST_DATABASE_URL")
    if not admin:
        pytest.skip(PG_SKIP_REASON)
    url = await _POSTGRES.take(admin)
    try:
        yield url
    finally:
        await _POSTGRES.give_back(admin, url)


@pytest.fixture(params=["sqlite", "postgres"])
async def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """As `database_url`, but the PostgreSQL database is empty: for tests of the migrations."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'switchboard.db'}"
        return
    admin = os.environ.get("TEST_DATABASE_URL")
    if not admin:
        pytest.skip(PG_SKIP_REASON)
    url = await create_pg_database(admin)
    try:
        yield url
    finally:
        await drop_pg_database(admin, url)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await database.migrate()
    try:
        yield database
    finally:
        await database.dispose()


AppFactory = Callable[..., Any]


@pytest.fixture
async def make_client(database_url: str) -> AsyncIterator[AppFactory]:
    """Start the whole gateway in-process: `client = await make_client(**settings, senders=...)`."""
    clients: list[TestClient[Any, Any]] = []

    async def factory(
        *, build: dict[str, Any] | None = None, **overrides: Any
    ) -> TestClient[Any, Any]:
        settings = make_settings(overrides.pop("DATABASE_URL", database_url), **overrides)
        app = build_app(settings, **(build or {}))
        client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield factory
    for client in reversed(clients):
        await client.close()
