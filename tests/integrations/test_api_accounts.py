"""`/api/v1/integrations`: connect, list, read, change, test and remove accounts over HTTP;
bad input refused with nothing stored; another workspace's account is a 404; no credential
in any answer, the audit or the logs; without SWITCHBOARD_SECRET_KEY a 409 that says what to
set; `python main.py secrets rotate` re-encrypts every account."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import func, select

from core.integrations import accounts
from core.integrations.vault import Vault
from storage.db import Database
from storage.integrations import IntegrationAccount
from storage.models import AuditEntry
from storage.types import utcnow
from tests.api import Client, ClientFactory, start_gateway
from tests.factories import make_tenant
from tests.process import ROOT
from tests.sims.checks import ChecksSim

SECRET = "integration tests' long random secret"
OFF = {"run_workers": False}
TOKEN = ChecksSim.GOOD["zendesk"]["api_token"]
TWILIO_TOKEN = ChecksSim.GOOD["twilio"]["auth_token"]


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[ChecksSim]:
    async with ChecksSim() as running:
        yield running
    assert not running.handler_errors


async def _json(response: Any, status: int) -> Any:
    text = await response.text()
    assert response.status == status, text
    return json.loads(text) if text else None


async def _gateway(make_client: ClientFactory, **settings: Any) -> Client:
    values = {"SWITCHBOARD_SECRET_KEY": SECRET, "PUBLIC_BASE_URL": "https://sb.example.com"}
    values.update(settings)
    return await start_gateway(make_client, build=OFF, **values)


async def _count(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(IntegrationAccount)) or 0)


def _zendesk(sim: ChecksSim) -> dict[str, Any]:
    return {
        "provider": "zendesk",
        "label": "Acme EU",
        "credentials": {**ChecksSim.GOOD["zendesk"], "api_url": sim.url},
    }


async def test_connect_list_change_test_and_remove(
    make_client: ClientFactory, db: Database, sim: ChecksSim, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tenant = await make_tenant(db)
    client = await _gateway(make_client)

    created = await _json(
        await client.post("/api/v1/integrations", headers=tenant.auth, json=_zendesk(sim)), 201
    )
    assert created["provider"] == "zendesk" and created["label"] == "Acme EU"
    assert created["enabled"] is True and created["kind"] == "helpdesk"
    assert created["settings"] == {
        "subdomain": "acme",
        "email": "ops@acme.example",
        "api_token": "••••good",
        "api_url": sim.url,
    }
    assert created["webhook_url"] is None and created["last_test"] is None

    line = await _json(
        await client.post(
            "/api/v1/integrations",
            headers=tenant.auth,
            json={
                "provider": "twilio",
                "label": "Support line",
                "credentials": {**ChecksSim.GOOD["twilio"], "api_url": sim.url},
            },
        ),
        201,
    )
    assert line["webhook_url"] == f"https://sb.example.com/telephony/twilio/{line['id']}"

    listed = await _json(await client.get("/api/v1/integrations", headers=tenant.auth), 200)
    assert [(i["provider"], i["label"]) for i in listed["items"]] == [
        ("twilio", "Support line"),
        ("zendesk", "Acme EU"),
    ]
    one = await _json(
        await client.get(f"/api/v1/integrations/{created['id']}", headers=tenant.auth), 200
    )
    assert one["settings"]["api_token"] == "••••good"

    tested = await _json(
        await client.post(f"/api/v1/integrations/{created['id']}/test", headers=tenant.auth), 200
    )
    assert tested == {"ok": True, "message": "Connected to Zendesk as Ops Agent"}
    assert sim.last("/api/v2/users/me.json").headers["Authorization"].startswith("Basic ")
    one = await _json(
        await client.get(f"/api/v1/integrations/{created['id']}", headers=tenant.auth), 200
    )
    assert one["last_test"]["ok"] is True
    assert one["last_test"]["message"] == "Connected to Zendesk as Ops Agent"

    # A wrong token: the test says so, and keeps the result.
    changed = await _json(
        await client.patch(
            f"/api/v1/integrations/{created['id']}",
            headers=tenant.auth,
            json={"label": "Acme Europe", "credentials": {"api_token": "zd-wrong-0000"}},
        ),
        200,
    )
    assert changed["label"] == "Acme Europe" and changed["settings"]["api_token"] == "••••0000"
    assert changed["last_test"] is None  # new credentials: the old result no longer holds
    failed = await _json(
        await client.post(f"/api/v1/integrations/{created['id']}/test", headers=tenant.auth), 200
    )
    assert (
        failed["ok"] is False and "Zendesk refused the credentials (HTTP 401)" in failed["message"]
    )

    # Blank secret keeps the saved one; enabled false turns it off.
    await _json(
        await client.patch(
            f"/api/v1/integrations/{created['id']}",
            headers=tenant.auth,
            json={"enabled": False, "credentials": {"api_token": TOKEN}},
        ),
        200,
    )
    off = await _json(
        await client.patch(
            f"/api/v1/integrations/{created['id']}",
            headers=tenant.auth,
            json={"credentials": {"api_token": "", "subdomain": "acme"}},
        ),
        200,
    )
    assert off["enabled"] is False and off["settings"]["api_token"] == "••••good"
    async with db.session() as session:
        row = await accounts.get_account(session, tenant.workspace_id, created["id"])
        assert accounts.credentials_of(Vault(SECRET), row)["api_token"] == TOKEN

    assert (
        await client.delete(f"/api/v1/integrations/{created['id']}", headers=tenant.auth)
    ).status == 204
    await _json(await client.get(f"/api/v1/integrations/{created['id']}", headers=tenant.auth), 404)
    assert await _count(db) == 1

    # Nothing the API answered, audited or logged holds a credential.
    async with db.session() as session:
        audit = [
            json.dumps(e.details, default=str) for e in await session.scalars(select(AuditEntry))
        ]
    said = json.dumps([created, line, listed, one, changed, failed, off]) + " ".join(audit)
    logged = caplog.text
    for secret in (TOKEN, TWILIO_TOKEN, "zd-wrong-0000", SECRET):
        assert secret not in said
        assert secret not in logged


async def test_bad_input_is_refused_and_stores_nothing(
    make_client: ClientFactory, db: Database, sim: ChecksSim
) -> None:
    tenant = await make_tenant(db)
    client = await _gateway(make_client)
    cases: list[tuple[Any, str]] = [
        ({"provider": "myspace", "credentials": {}}, "unknown provider 'myspace'"),
        ({"provider": "zendesk", "credentials": {"subdomain": "acme"}}, "Zendesk needs email"),
        (
            {"provider": "zendesk", "credentials": {**ChecksSim.GOOD["zendesk"], "pin": "1"}},
            "not pin",
        ),
        (
            {"provider": "zendesk", "credentials": {**ChecksSim.GOOD["zendesk"], "api_token": 5}},
            "api_token must be text",
        ),
        (
            {
                "provider": "dialpad",
                "credentials": {**ChecksSim.GOOD["dialpad"], "target_type": "room"},
            },
            "target_type is one of user, call_center, department",
        ),
        (
            {"provider": "aircall", "credentials": {**ChecksSim.GOOD["aircall"], "api_url": "x"}},
            "api_url must be an http(s) URL",
        ),
        ({"provider": "zendesk", "credentials": "token"}, "credentials"),
        ({"provider": "zendesk"}, "credentials"),
        ({"provider": "zendesk", "credentials": {}, "extra": 1}, "extra"),
    ]
    for body, why in cases:
        problem = await _json(
            await client.post("/api/v1/integrations", headers=tenant.auth, json=body), 400
        )
        assert why in problem["message"], problem
        assert "ac-token-good" not in problem["message"]
    assert (
        await client.post("/api/v1/integrations", headers=tenant.auth, data=b"{not json")
    ).status == 400
    assert await _count(db) == 0

    created = await _json(
        await client.post("/api/v1/integrations", headers=tenant.auth, json=_zendesk(sim)), 201
    )
    url = f"/api/v1/integrations/{created['id']}"
    for patch, why in [
        ({"enabled": "yes"}, "enabled"),
        ({"credentials": {"api_url": "ftp://x"}}, "api_url must be an http(s) URL"),
        ({"credentials": {"pin": "1"}}, "not pin"),
        ({"label": "x" * 121}, "label"),
    ]:
        problem = await _json(await client.patch(url, headers=tenant.auth, json=patch), 400)
        assert why in problem["message"], problem
    unchanged = await _json(await client.get(url, headers=tenant.auth), 200)
    assert {k: unchanged[k] for k in ("label", "enabled", "settings", "updated_at")} == {
        k: created[k] for k in ("label", "enabled", "settings", "updated_at")
    }
    # No key, a wrong key.
    assert (await client.get("/api/v1/integrations")).status == 401
    assert (
        await client.post(f"{url}/test", headers={"Authorization": "Bearer sb_nope"})
    ).status == 401


async def test_another_workspaces_account_is_not_found(
    make_client: ClientFactory, db: Database, sim: ChecksSim
) -> None:
    a = await make_tenant(db)
    b = await make_tenant(db)
    client = await _gateway(make_client)
    created = await _json(
        await client.post("/api/v1/integrations", headers=a.auth, json=_zendesk(sim)), 201
    )
    url = f"/api/v1/integrations/{created['id']}"
    assert (await client.get(url, headers=b.auth)).status == 404
    assert (await client.patch(url, headers=b.auth, json={"enabled": False})).status == 404
    assert (await client.post(f"{url}/test", headers=b.auth)).status == 404
    assert (await client.delete(url, headers=b.auth)).status == 404
    listed = await _json(await client.get("/api/v1/integrations", headers=b.auth), 200)
    assert listed == {"items": [], "next_cursor": None}
    assert sim.requests == ()  # B's test never called the provider with A's credentials
    mine = await _json(await client.get(url, headers=a.auth), 200)
    assert mine["enabled"] is True and mine["label"] == "Acme EU"


async def test_without_the_secret_key_connecting_says_what_to_set(
    make_client: ClientFactory, db: Database, sim: ChecksSim
) -> None:
    tenant = await make_tenant(db)
    client = await start_gateway(make_client, build=OFF)
    problem = await _json(
        await client.post("/api/v1/integrations", headers=tenant.auth, json=_zendesk(sim)), 409
    )
    assert "SWITCHBOARD_SECRET_KEY is not set" in problem["message"]
    assert await _count(db) == 0
    assert await _json(await client.get("/api/v1/integrations", headers=tenant.auth), 200) == {
        "items": [],
        "next_cursor": None,
    }


async def test_openapi_describes_the_integration_routes(make_client: ClientFactory) -> None:
    client = await _gateway(make_client)
    doc = await _json(await client.get("/api/v1/openapi.json"), 200)
    paths = doc["paths"]
    assert set(paths["/api/v1/integrations"]) == {"get", "post"}
    assert set(paths["/api/v1/integrations/{integration_id}"]) == {"get", "patch", "delete"}
    assert (
        "SWITCHBOARD_SECRET_KEY"
        in paths["/api/v1/integrations"]["post"]["responses"]["409"]["description"]
    )
    assert paths["/api/v1/integrations/{integration_id}/test"]["post"]["responses"]["200"]


async def _rotate_cli(env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "main.py"),
        "secrets",
        "rotate",
        cwd=cwd,
        env={"PATH": os.environ.get("PATH", ""), "LOG_FORMAT": "text", **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    return int(process.returncode or 0), out.decode(), err.decode()


async def test_secrets_rotate_reencrypts_every_account(
    database_url: str, db: Database, tmp_path: Path
) -> None:
    tenant = await make_tenant(db)
    old = Vault("the old secret")
    async with db.session() as session:
        for label in ("One", "Two"):
            await accounts.connect(
                session,
                old,
                tenant.workspace_id,
                provider="intercom",
                label=label,
                credentials={"access_token": "ic-token-0123456789"},
                actor="test",
                now=utcnow(),
            )
    env = {"DATABASE_URL": database_url}

    # Without the secret: refused, clearly.
    code, _, err = await _rotate_cli(env, tmp_path)
    assert code == 2 and "SWITCHBOARD_SECRET_KEY is not set" in err

    # The new secret alone cannot open the old values: refused, nothing changed.
    env["SWITCHBOARD_SECRET_KEY"] = "the new secret"
    code, _, err = await _rotate_cli(env, tmp_path)
    assert code == 1 and "nothing was changed" in err
    async with db.session() as session:
        rows = list(await session.scalars(select(IntegrationAccount)))
        assert all(accounts.credentials_of(old, r) for r in rows)

    env["SWITCHBOARD_SECRET_KEY_PREVIOUS"] = "the old secret"
    code, out, err = await _rotate_cli(env, tmp_path)
    assert code == 0, err
    assert "re-encrypted the credentials of 2 integration accounts" in out
    new_only = Vault("the new secret")
    async with db.session() as session:
        rows = list(await session.scalars(select(IntegrationAccount)))
        assert [accounts.credentials_of(new_only, r)["access_token"] for r in rows] == [
            "ic-token-0123456789"
        ] * 2
    assert "ic-token-0123456789" not in out + err
