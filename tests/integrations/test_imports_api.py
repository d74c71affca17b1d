"""The imports API on the running gateway: an import started on a connected Zendesk account
runs in the background (the node's import worker) and its counts are read back; a second one
while it goes is refused (409), a telephony line has nothing to import (400), another
workspace's account or run is not found (404), and nothing changes on a refusal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from api.state import GATEWAY
from core.integrations import accounts
from core.integrations.vault import Vault
from storage.integrations import ImportRun
from storage.types import utcnow
from tests.conftest import AppFactory
from tests.factories import make_tenant
from tests.helpers import wait_until
from tests.sims.zendesk import ZendeskSim

SECRET = "the gateway's secret key for the import API test"


@pytest.fixture
async def zendesk() -> AsyncIterator[ZendeskSim]:
    async with ZendeskSim(tickets=60, closed=5) as sim:
        yield sim


async def test_an_import_started_by_the_api_runs_and_shows_its_counts(
    make_client: AppFactory, zendesk: ZendeskSim
) -> None:
    client = await make_client(SWITCHBOARD_SECRET_KEY=SECRET)
    db = client.app[GATEWAY].db
    tenant = await make_tenant(db)
    other = await make_tenant(db)
    async with db.session() as session:
        desk = await accounts.connect(
            session,
            Vault(SECRET),
            tenant.workspace_id,
            provider="zendesk",
            label="Acme EU",
            credentials={
                "subdomain": "acme",
                "email": zendesk.email,
                "api_token": zendesk.api_token,
                "api_url": zendesk.url,
            },
            actor="test",
            now=utcnow(),
        )
        line = await accounts.connect(
            session,
            Vault(SECRET),
            tenant.workspace_id,
            provider="twilio",
            label="Support line",
            credentials={"account_sid": "AC1", "auth_token": "tok", "phone_number": "+15550001"},
            actor="test",
            now=utcnow(),
        )
        desk_id, line_id = desk.id, line.id
    # Hold the run at its eleventh ticket: the counts show how far it got.
    held = zendesk.open_ids()[10]
    zendesk.stall(times=1, path=f"/tickets/{held}/comments.json")

    started = await client.post(f"/api/v1/integrations/{desk_id}/imports", headers=tenant.auth)
    assert started.status == 202
    body = await started.json()
    assert body == {
        "id": body["id"],
        "status": "queued",
        "imported": 0,
        "skipped": 0,
        "error": None,
    }
    await wait_until(lambda: zendesk.stalled == 1, timeout=10)
    midway = await client.get(f"/api/v1/imports/{body['id']}", headers=tenant.auth)
    assert await midway.json() == {
        "id": body["id"],
        "status": "running",
        "imported": 10,
        "skipped": 0,
        "error": None,
    }

    again = await client.post(f"/api/v1/integrations/{desk_id}/imports", headers=tenant.auth)
    assert again.status == 409
    assert "already running (10 imported, 0 skipped so far)" in (await again.json())["message"]
    assert (
        await client.post(f"/api/v1/integrations/{line_id}/imports", headers=tenant.auth)
    ).status == 400
    assert (
        await client.post(f"/api/v1/integrations/{desk_id}/imports", headers=other.auth)
    ).status == 404
    assert (await client.get(f"/api/v1/imports/{body['id']}", headers=other.auth)).status == 404
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(ImportRun)) == 1

    zendesk.release_stalled()

    async def finished() -> dict[str, Any] | None:
        answer = await client.get(f"/api/v1/imports/{body['id']}", headers=tenant.auth)
        state: dict[str, Any] = await answer.json()
        return state if state["status"] == "done" else None

    done = await wait_until(finished, timeout=30)
    assert done == {"id": body["id"], "status": "done", "imported": 60, "skipped": 0, "error": None}
    spec = await (await client.get("/api/v1/openapi.json")).json()
    assert "/api/v1/imports/{import_id}" in spec["paths"]
