"""Every list of the admin API: cursor pages that together hold the whole list once, in its
order; the chat tools' filters on assists and the other lists' filters; and every route's query
parameters checked (unknown, repeated or bad ones refused with a 400 naming them)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest

from api.admin.openapi import Endpoint
from api.admin.routes import ENDPOINTS
from core.team import agents, directory
from storage.db import Database
from storage.domain import Assist, Proposal, Schedule, Snapshot, TrainingSource
from storage.models import AuditEntry
from tests.api import Client, ClientFactory, count_rows, start_gateway, workspace_snapshot
from tests.console.live_helpers import go_live
from tests.factories import (
    Tenant,
    make_live_world,
    make_member,
    make_outbox_row,
    make_task_row,
    make_tenant,
)
from tests.integrations.importing import SECRET as IMPORTS_SECRET
from tests.integrations.importing import make_import_world

OFF = {"run_workers": False}
LISTS = [ep for ep in ENDPOINTS if any(p.name == "cursor" for p in ep.params)]
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _label(ep: Endpoint) -> str:
    return f"{ep.method} {ep.path}"


async def _get(client: Client, path: str, auth: dict[str, str], status: int = 200) -> Any:
    response = await client.get(path, headers=auth)
    text = await response.text()
    assert response.status == status, (path, text)
    return json.loads(text)


def _identity(item: dict[str, Any]) -> Any:
    """What names an item (an API key's last use moves with every call it makes)."""
    return item.get("id") or item.get("ref") or item["member_id"]


async def _seed_lists(db: Database, tenant: Tenant) -> None:
    """At least five rows in every list, several sharing one timestamp (the tiebreaker
    decides their order)."""
    ws, me = tenant.workspace_id, tenant.member_id
    async with db.session() as session:
        extra = [await make_member(session, ws, name=f"Zed {i}") for i in range(4)]
        for i in range(5):
            await directory.create_api_key(session, ws, name=f"key {i}", actor="test")
            task = await make_task_row(session, ws, me, received_at=T0)
            await make_outbox_row(session, ws, me, task_id=task.id)
        agent = None
        for i in range(3):
            agent = await agents.create_agent(session, ws, agents.AgentFields(name=f"Agent {i}"))
        assert agent is not None
        operators = [me, extra[0].id, extra[1].id]
        for member_id in operators:
            await make_live_world(session, ws, member_id, agent.id)
        session.add_all(
            [
                Assist(workspace_id=ws, number=100 + i, summary="same minute", created_at=T0)
                for i in range(7)
            ]
        )
        session.add_all(
            [
                AuditEntry(workspace_id=ws, actor="test", action="seeded", created_at=T0)
                for _ in range(6)
            ]
            + [
                Proposal(
                    workspace_id=ws,
                    code=f"{1000 + i}",
                    requester_id=me,
                    summary="close it",
                    created_at=T0,
                    expires_at=T0 + timedelta(days=1),
                )
                for i in range(5)
            ]
            + [Snapshot(workspace_id=ws, summary="closed", created_at=T0) for _ in range(5)]
            + [
                Schedule(workspace_id=ws, member_id=m.id, briefing_type="monthly_roi")
                for m in [*extra, *extra]
            ]
            + [TrainingSource(workspace_id=ws, kind="text", content="FAQ") for _ in range(5)]
        )
        await make_import_world(session, ws)
        await make_import_world(session, ws)
    for member_id in operators:
        await go_live(db, ws, member_id)


async def test_every_list_pages_through_all_of_it_once_in_order(
    make_client: ClientFactory, db: Database
) -> None:
    tenant = await make_tenant(db)
    await _seed_lists(db, tenant)
    client = await start_gateway(make_client, build=OFF, SWITCHBOARD_SECRET_KEY=IMPORTS_SECRET)

    for ep in LISTS:
        whole = await _get(client, f"{ep.path}?limit=200", tenant.auth)
        assert whole["next_cursor"] is None, _label(ep)
        paged: list[Any] = []
        cursor: str | None = None
        pages = 0
        while True:
            query = f"?limit=2&cursor={quote(cursor)}" if cursor else "?limit=2"
            page = await _get(client, ep.path + query, tenant.auth)
            assert len(page["items"]) <= 2, _label(ep)
            paged.extend(page["items"])
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
            assert page["items"], _label(ep)  # a cursor never leads to an empty page here
        assert [_identity(x) for x in paged] == [_identity(x) for x in whole["items"]], _label(ep)
        if ep.path != "/api/v1/workspaces":
            assert len(whole["items"]) >= 3, _label(ep)  # the walk really took pages
            assert pages >= 2, _label(ep)


async def test_a_page_boundary_inside_equal_timestamps_loses_nothing(
    make_client: ClientFactory, db: Database
) -> None:
    tenant = await make_tenant(db)
    await _seed_lists(db, tenant)
    client = await start_gateway(make_client, build=OFF)

    first = await _get(client, "/api/v1/assists?limit=3", tenant.auth)
    second = await _get(
        client, f"/api/v1/assists?limit=3&cursor={quote(first['next_cursor'])}", tenant.auth
    )
    third = await _get(
        client, f"/api/v1/assists?limit=3&cursor={quote(second['next_cursor'])}", tenant.auth
    )

    refs = [a["ref"] for page in (first, second, third) for a in page["items"]]
    # Same created_at for all seven: newest first falls back on the number, descending.
    assert refs == [f"A-{n}" for n in range(106, 99, -1)]
    assert third["next_cursor"] is None


async def test_a_cursor_from_another_list_or_made_up_is_refused(
    make_client: ClientFactory, db: Database
) -> None:
    tenant = await make_tenant(db)
    await _seed_lists(db, tenant)
    client = await start_gateway(make_client, build=OFF)
    tasks_cursor = (await _get(client, "/api/v1/tasks?limit=1", tenant.auth))["next_cursor"]
    forged = [
        base64.urlsafe_b64encode(raw).decode().rstrip("=")
        for raw in (
            b'["assists",["not a time",1]]',
            b'["assists",["2026-03-02T09:00:00+00:00",99999999999999999999]]',
            b'["assists",["2026-03-02T09:00:00",1]]',
            b'["assists",["2026-03-02T09:00:00+00:00",true]]',
            b'["members",["\\ud800",""]]',
        )
    ]

    for cursor in (tasks_cursor, *forged, "%%%", "bm90IGpzb24", "W10"):
        path = "/api/v1/members" if cursor.startswith("WyJtZW1iZXJz") else "/api/v1/assists"
        body = await _get(client, f"{path}?cursor={quote(cursor)}", tenant.auth, status=400)
        assert "cursor" in body["detail"], body


async def _assists(db: Database, tenant: Tenant) -> dict[str, str]:
    """Assists differing in each filter; the other member's id."""
    ws = tenant.workspace_id
    async with db.session() as session:
        other = await make_member(session, ws, name="Other")
        session.add_all(
            [
                Assist(
                    workspace_id=ws,
                    number=1,
                    status="open",
                    priority="urgent",
                    category="Billing",
                    labels=["vip"],
                    assignee_id=tenant.member_id,
                    summary="refund twice",
                    created_at=T0,
                ),
                Assist(
                    workspace_id=ws,
                    number=2,
                    status="pending",
                    priority="low",
                    category="shipping",
                    labels=["late", "VIP"],
                    summary="where is my parcel",
                    created_at=T0 + timedelta(days=1),
                ),
                Assist(
                    workspace_id=ws,
                    number=3,
                    status="closed",
                    priority="normal",
                    category="billing",
                    assignee_id=other.id,
                    summary="invoice address",
                    created_at=T0 + timedelta(days=2),
                ),
            ]
        )
    return {"other": other.id}


@pytest.mark.parametrize(
    ("query", "refs"),
    [
        ("", ["A-3", "A-2", "A-1"]),
        ("status=open", ["A-1"]),
        ("status=pending", ["A-2"]),
        ("priority=urgent", ["A-1"]),
        ("category=BILLING", ["A-3", "A-1"]),
        ("label=vip", ["A-2", "A-1"]),
        ("assignee=unassigned", ["A-2"]),
        ("assignee={me}", ["A-1"]),
        ("assignee={other}", ["A-3"]),
        ("q=parcel", ["A-2"]),
        ("q=A-3", ["A-3"]),
        ("created_after=2026-03-03T09:00:00Z", ["A-3", "A-2"]),
        ("created_before=2026-03-03T09:00:00%2B00:00", ["A-1"]),
        ("created_after=2026-03-03&created_before=2026-03-04", ["A-2"]),
        ("category=billing&status=closed", ["A-3"]),
        ("label=vip&priority=low&assignee=unassigned", ["A-2"]),
    ],
)
async def test_assists_filter_as_the_list_assists_tool_does(
    make_client: ClientFactory, db: Database, query: str, refs: list[str]
) -> None:
    tenant = await make_tenant(db)
    ids = await _assists(db, tenant)
    client = await start_gateway(make_client, build=OFF)

    path = "/api/v1/assists?" + query.format(me=tenant.member_id, other=ids["other"])
    body = await _get(client, path, tenant.auth)

    assert [a["ref"] for a in body["items"]] == refs


async def test_the_other_lists_filter_on_what_they_show(
    make_client: ClientFactory, db: Database
) -> None:
    tenant = await make_tenant(db)
    ws, me = tenant.workspace_id, tenant.member_id
    async with db.session() as session:
        done = await make_task_row(session, ws, me, status="done", received_at=T0)
        failed = await make_task_row(
            session, ws, me, status="failed", received_at=T0 + timedelta(hours=1)
        )
        await make_outbox_row(session, ws, me, status="sent", channel="sms", task_id=done.id)
        await make_outbox_row(session, ws, me, status="dead", channel="web", task_id=failed.id)
        removed = await make_member(session, ws, name="Gone", role="support")
        removed.status = "removed"
        revoked = await directory.create_api_key(session, ws, name="old", actor="test")
        await directory.revoke_api_key(session, ws, revoked.id, actor="test")
    client = await start_gateway(make_client, build=OFF)

    async def ids(path: str, key: str = "id") -> list[Any]:
        return [item[key] for item in (await _get(client, path, tenant.auth))["items"]]

    assert await ids("/api/v1/tasks?status=failed") == [failed.id]
    assert await ids("/api/v1/tasks?created_before=2026-03-02T09:30:00Z") == [done.id]
    assert await ids("/api/v1/tasks?channel=sms") == []
    assert await ids("/api/v1/outbox?channel=sms", "task_id") == [done.id]
    assert await ids(f"/api/v1/outbox?task_id={failed.id}", "status") == ["dead"]
    assert await ids("/api/v1/members?status=removed") == [removed.id]
    assert await ids("/api/v1/members?role=support") == [removed.id]
    assert me in await ids("/api/v1/members?status=active")
    assert await ids("/api/v1/apikeys?status=revoked") == [revoked.id]
    assert revoked.id not in await ids("/api/v1/apikeys?status=active")
    assert await ids("/api/v1/audit?action=apikey.revoke", "target") == [revoked.id]


def _bad_value(param: Any) -> str:
    if param.choices:
        return "nonsense"
    return {"integer": "1.5", "boolean": "yes", "date-time": "yesterday"}.get(param.type, "")


async def test_every_route_refuses_unknown_repeated_and_bad_query_parameters(
    make_client: ClientFactory, db: Database
) -> None:
    tenant = await make_tenant(db)
    client = await start_gateway(make_client, build=OFF)
    before = await count_rows(db)
    snapshot = await workspace_snapshot(db, tenant.workspace_id)

    for ep in ENDPOINTS:
        path = ep.path.replace("{", "x").replace("}", "")
        unknown = await client.request(ep.method, f"{path}?colour=red", headers=tenant.auth)
        body = await unknown.json()
        assert unknown.status == 400, (_label(ep), body)
        assert unknown.content_type == "application/problem+json", _label(ep)
        assert "unknown query parameter 'colour'" in body["detail"], (_label(ep), body)
        for param in ep.params:
            bad = await client.request(
                ep.method, f"{path}?{param.name}={_bad_value(param)}", headers=tenant.auth
            )
            body = await bad.json()
            assert bad.status == 400, (_label(ep), param.name, body)
            assert f"query parameter {param.name}" in body["detail"], (_label(ep), body)
        if ep.params:
            twice = await client.request(ep.method, f"{path}?limit=1&limit=2", headers=tenant.auth)
            assert twice.status == 400, _label(ep)
            assert "'limit' is given more than once" in (await twice.json())["detail"]

    assert await count_rows(db) == before
    assert await workspace_snapshot(db, tenant.workspace_id) == snapshot


async def test_the_key_is_checked_before_the_query(
    make_client: ClientFactory, db: Database
) -> None:
    await make_tenant(db)
    client = await start_gateway(make_client, build=OFF)

    response = await client.get("/api/v1/assists?colour=red")

    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_a_list_asked_without_limit_gives_its_default_page(
    make_client: ClientFactory, db: Database
) -> None:
    tenant = await make_tenant(db)
    async with db.session() as session:
        session.add_all(
            [
                AuditEntry(workspace_id=tenant.workspace_id, actor="t", action="a", created_at=T0)
                for _ in range(101)
            ]
        )
        for _ in range(51):
            await make_task_row(session, tenant.workspace_id, tenant.member_id, received_at=T0)
    client = await start_gateway(make_client, build=OFF)

    audit = await _get(client, "/api/v1/audit", tenant.auth)
    tasks = await _get(client, "/api/v1/tasks", tenant.auth)

    assert len(audit["items"]) == 100 and audit["next_cursor"]
    assert len(tasks["items"]) == 50 and tasks["next_cursor"]
    rest = await _get(client, f"/api/v1/tasks?cursor={tasks['next_cursor']}", tenant.auth)
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
