"""The web channel takes a console session as well as an API key: CSRF on posts, own member only."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from storage.db import Database
from storage.models import TaskRow
from tests.console.helpers import origin, sign_in
from tests.factories import make_member, make_tenant


async def _tasks(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(TaskRow)) or 0)


async def test_a_console_session_posts_as_its_member(make_client: Any, db: Database) -> None:
    client = await make_client()
    tenant = await make_tenant(db)
    async with db.session() as session:
        other = await make_member(session, tenant.workspace_id, role="admin")
    csrf = await sign_in(client, db, tenant.member_id)

    # Without the session's CSRF token a post is refused and nothing is journaled.
    refused = await client.post("/api/v1/messages", json={"text": "help"}, headers=origin(client))
    assert refused.status == 403
    assert await _tasks(db) == 0

    headers = {"X-CSRF-Token": csrf, **origin(client)}
    accepted = await client.post("/api/v1/messages", json={"text": "help"}, headers=headers)
    assert accepted.status == 202, await accepted.text()
    task_id = (await accepted.json())["task_id"]
    read = await client.get(f"/api/v1/tasks/{task_id}")
    assert read.status == 200
    assert (await read.json())["text"] == "help"

    impostor = await client.post(
        "/api/v1/messages", json={"member": other.id, "text": "help"}, headers=headers
    )
    assert impostor.status == 403
    assert await _tasks(db) == 1


async def test_without_key_or_session_the_web_channel_is_closed(make_client: Any) -> None:
    client = await make_client()
    response = await client.post("/api/v1/messages", json={"member": "x@example.com", "text": "hi"})
    assert response.status == 401
