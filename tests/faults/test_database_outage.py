"""The database goes away under a running gateway and comes back.

A real outage on the PostgreSQL server: the test database stops taking connections and every
session on it is ended, as a restart or a failover does. While it is away, requests are
answered 503 with Retry-After (nothing is acknowledged that is not committed; the sender tries
again) and the background loops wait, doubling their
pauses, and log the outage once instead of a traceback per round; when it is back, every loop
works again without a restart of the gateway (the pipeline worker used to die on its first
failed claim, leaving every later task queued for good).
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from api.app import build_app
from storage.db import Database
from storage.models import TaskRow
from tests.api import ClientFactory, start_gateway
from tests.conftest import PG_SKIP_REASON, make_settings
from tests.factories import Tenant, make_tenant
from tests.helpers import wait_until


async def _admin(statement: str) -> None:
    admin = make_url(os.environ["TEST_DATABASE_URL"])
    conn = await asyncpg.connect(
        host=admin.host, port=admin.port or 5432, user=admin.username, database=admin.database
    )
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _outage(name: str) -> None:
    await _admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    await _admin(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    )


async def _seed(url: str) -> Tenant:
    db = Database(url)
    try:
        return await make_tenant(db)
    finally:
        await db.dispose()


async def _done(url: str, task_id: str) -> bool:
    db = Database(url)
    try:
        async with db.session() as session:
            status = await session.scalar(select(TaskRow.status).where(TaskRow.id == task_id))
    finally:
        await db.dispose()
    return status == "done"


async def test_the_gateway_rides_out_a_database_outage(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    if not os.environ.get("TEST_DATABASE_URL"):
        pytest.skip(PG_SKIP_REASON)
    name = str(make_url(postgres_url).database)
    migrate = Database(postgres_url)
    await migrate.migrate()
    await migrate.dispose()
    tenant = await _seed(postgres_url)
    app = build_app(make_settings(postgres_url, SWITCHBOARD_WORKERS=2))
    client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()

    async def ask(text: str) -> Any:
        return await client.post(
            "/api/v1/messages",
            json={"member": tenant.member_email, "text": text},
            headers=tenant.auth,
        )

    try:
        first = await ask("how many chats came in today")
        assert first.status == 202
        first_id = (await first.json())["task_id"]
        await wait_until(lambda: _done(postgres_url, first_id), timeout=15)

        caplog.clear()
        with caplog.at_level(logging.INFO):
            await _outage(name)
            refused = await ask("and yesterday?")
            # Not committed, so not acknowledged: the sender keeps it and tries again.
            assert refused.status == 503, await refused.text()
            assert refused.headers["Retry-After"] == "5"
            assert "nothing was stored" in (await refused.json())["message"]
            # What is checked is how much the loops log over a stretch of outage, so the
            # stretch has to pass: no condition marks its end.
            await asyncio.sleep(4)
            during = [r for r in caplog.records if r.levelno >= logging.ERROR]
            by_logger: dict[str, int] = {}
            for record in during:
                by_logger[record.name] = by_logger.get(record.name, 0) + 1
            # One error per loop for the outage (and the refused request), not one per round.
            assert by_logger, "the outage was not logged at all"
            assert all(n <= 3 for n in by_logger.values()), by_logger

            await _admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            second = await ask("how many chats came in today")
            assert second.status == 202, await second.text()
            second_id = (await second.json())["task_id"]
            # Processed by the same pipeline worker that failed to claim during the outage.
            await wait_until(lambda: _done(postgres_url, second_id), timeout=30)
        recovered = [r.getMessage() for r in caplog.records if "recovered after" in r.getMessage()]
        assert any(m.startswith("claiming tasks recovered") for m in recovered), recovered
    finally:
        await _admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await client.close()


async def test_a_database_error_while_the_database_answers_is_a_logged_500(
    make_client: ClientFactory,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Only an outage is a 503: the same error while the database answers is a defect."""
    tenant = await make_tenant(db)
    client = await start_gateway(make_client)

    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise DBAPIError("SELECT members", {}, RuntimeError("a defect"))

    monkeypatch.setattr("api.admin.members.page_rows", broken)
    with caplog.at_level(logging.ERROR):
        response = await client.get("/api/v1/members", headers=tenant.auth)
    assert response.status == 500
    assert "Retry-After" not in response.headers
    assert any(r.exc_info and "unhandled error" in r.getMessage() for r in caplog.records)
