"""Who may use the web channel: an API key, a console session (through the hook the console
registers), or anyone only when SWITCHBOARD_WEB_AUTH=open was set, which is logged loudly."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from api.app import build_app
from api.web import WEB_SESSION_AUTH
from storage.db import Database
from tests.api import (
    Client,
    ClientFactory,
    HelpClassifier,
    count_rows,
    finished_task,
    start_gateway,
)
from tests.conftest import make_settings
from tests.factories import make_member, make_tenant

SESSION_HEADER = "X-Test-Session"


async def _session_from_header(request: web.Request) -> tuple[str, str] | None:
    """A stand-in for the console's cookie session: "<workspace id>:<member id>"."""
    value = request.headers.get(SESSION_HEADER)
    if value is None:
        return None
    workspace_id, member_id = value.split(":")
    return workspace_id, member_id


SessionClient = Callable[..., Any]


@pytest.fixture
async def session_client(database_url: str) -> AsyncIterator[SessionClient]:
    """The gateway with a console session hook registered, as the console will register it."""
    clients: list[Client] = []

    async def start(**overrides: Any) -> Client:
        app = build_app(make_settings(database_url, **overrides), classifier=HelpClassifier())
        app[WEB_SESSION_AUTH] = _session_from_header
        client: Client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()


async def test_without_credentials_nothing_is_accepted_or_shown(
    make_client: ClientFactory, db: Database
) -> None:
    tenant = await make_tenant(db)
    client = await start_gateway(make_client)
    posted = await client.post(
        "/api/v1/messages", json={"member": tenant.member_id, "text": "help"}, headers=tenant.auth
    )
    task_id = (await posted.json())["task_id"]
    await finished_task(client, task_id, **tenant.auth)  # its reply is written before we count
    before = await count_rows(db)

    # The same gateway on 127.0.0.1, asked without a key: nothing is taken, nothing is read.
    message = await client.post(
        "/api/v1/messages", json={"member": tenant.member_id, "text": "close A-1042"}
    )
    task = await client.get(f"/api/v1/tasks/{task_id}")

    for response in (message, task):
        assert response.status == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        said = (await response.json())["message"]
        assert "API key" in said and "console session" in said
    assert await count_rows(db) == before


async def test_open_must_be_set_and_is_logged_as_a_risk(
    make_client: ClientFactory, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    tenant = await make_tenant(db)
    with caplog.at_level(logging.WARNING):
        await start_gateway(make_client)
    assert not [r for r in caplog.records if "SWITCHBOARD_WEB_AUTH" in r.getMessage()]

    with caplog.at_level(logging.WARNING):
        client = await start_gateway(make_client, SWITCHBOARD_WEB_AUTH="open")
    [warning] = [r for r in caplog.records if "SWITCHBOARD_WEB_AUTH=open" in r.getMessage()]
    assert warning.levelno == logging.WARNING
    assert "without an API key" in warning.getMessage()
    assert "act as any member" in warning.getMessage()

    response = await client.post(
        "/api/v1/messages", json={"member": tenant.member_email, "text": "help"}
    )
    assert response.status == 202, await response.text()
    task = await finished_task(client, (await response.json())["task_id"])
    assert [r["address"] for r in task["replies"]] == [tenant.member_id]


async def test_an_api_key_must_name_the_member(make_client: ClientFactory, db: Database) -> None:
    tenant = await make_tenant(db)
    client = await start_gateway(make_client)
    before = await count_rows(db)

    response = await client.post("/api/v1/messages", json={"text": "help"}, headers=tenant.auth)

    assert response.status == 400
    assert "member is required" in (await response.json())["message"]
    assert await count_rows(db) == before


async def test_a_console_session_posts_as_its_own_member(
    session_client: SessionClient, db: Database
) -> None:
    tenant = await make_tenant(db, name="Ana")
    client = await session_client()
    session = {SESSION_HEADER: f"{tenant.workspace_id}:{tenant.member_id}"}

    # Without `member` the session's member is meant; naming themselves is the same.
    for body in ({"text": "help"}, {"member": tenant.member_email.upper(), "text": "help"}):
        response = await client.post("/api/v1/messages", json=body, headers=session)
        assert response.status == 202, await response.text()
        task = await finished_task(client, (await response.json())["task_id"], **session)
        [reply] = task["replies"]
        assert reply["address"] == tenant.member_id
        assert reply["text"].startswith("Hi Ana")


async def test_a_console_session_may_not_post_as_another_member(
    session_client: SessionClient, db: Database
) -> None:
    tenant = await make_tenant(db)
    async with db.session() as s:
        colleague = await make_member(s, tenant.workspace_id, role="support")
    client = await session_client()
    as_colleague = {SESSION_HEADER: f"{tenant.workspace_id}:{colleague.id}"}
    before = await count_rows(db)

    for ref in (tenant.member_id, tenant.member_email):
        response = await client.post(
            "/api/v1/messages", json={"member": ref, "text": "help"}, headers=as_colleague
        )
        assert response.status == 403, ref
        assert "its own member only" in (await response.json())["message"]
    assert await count_rows(db) == before


async def test_a_console_session_reads_its_own_tasks_only(
    session_client: SessionClient, db: Database
) -> None:
    tenant = await make_tenant(db)
    async with db.session() as s:
        colleague = await make_member(s, tenant.workspace_id, role="admin")
    other = await make_tenant(db)
    client = await session_client()
    mine = {SESSION_HEADER: f"{tenant.workspace_id}:{tenant.member_id}"}
    posted = {}
    for name, member, auth in (
        ("mine", tenant.member_id, tenant.auth),
        ("colleague", colleague.id, tenant.auth),
        ("elsewhere", other.member_id, other.auth),
    ):
        response = await client.post(
            "/api/v1/messages", json={"member": member, "text": "help"}, headers=auth
        )
        posted[name] = (await response.json())["task_id"]

    own = await client.get(f"/api/v1/tasks/{posted['mine']}", headers=mine)
    assert own.status == 200
    assert (await own.json())["id"] == posted["mine"]
    for name in ("colleague", "elsewhere"):
        response = await client.get(f"/api/v1/tasks/{posted[name]}", headers=mine)
        assert response.status == 404, name


async def test_a_key_is_checked_before_a_session(
    session_client: SessionClient, db: Database
) -> None:
    tenant = await make_tenant(db)
    client = await session_client()
    session = {SESSION_HEADER: f"{tenant.workspace_id}:{tenant.member_id}"}
    before = await count_rows(db)

    # A bad key is refused even beside a valid session; a request with neither is refused.
    bad_key = await client.post(
        "/api/v1/messages",
        json={"text": "help"},
        headers={**session, "Authorization": "Bearer sb_not-a-key"},
    )
    nothing = await client.post("/api/v1/messages", json={"member": tenant.member_id, "text": "x"})

    assert bad_key.status == 401
    assert "invalid or revoked" in (await bad_key.json())["message"]
    assert nothing.status == 401
    assert await count_rows(db) == before
