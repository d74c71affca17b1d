"""The Integrations page's imports and line upkeep over HTTP: a member starts an import of a
Zendesk account (the simulator's tickets) and follows its counts through the page's JSON
endpoint to done; a second start while it runs says so and queues nothing; a turned-off
account is refused with the reason; support members, a missing CSRF token and another
workspace's account or run are refused. A RingCentral line shows its failed renewal as a
warning, and its Renew subscription button renews it (or says why not)."""

from __future__ import annotations

import html as htmllib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest_asyncio
from sqlalchemy import func, select

from core.integrations import accounts
from core.integrations.vault import Vault
from storage.db import Database
from storage.integrations import ImportRun, IntegrationAccount
from storage.types import utcnow
from tests.api import Client, ClientFactory
from tests.console.helpers import origin, sign_in
from tests.factories import make_member, make_tenant
from tests.helpers import wait_until
from tests.integrations.telephony_helpers import connect_line
from tests.sims.ringcentral import RingCentralSim
from tests.sims.zendesk import ZendeskSim

SECRET = "console import tests' long random secret"
PUBLIC_BASE_URL = "http://sb.example.com"  # http: the test client keeps no Secure cookie


@pytest_asyncio.fixture
async def zendesk() -> AsyncIterator[ZendeskSim]:
    async with ZendeskSim(tickets=30, closed=4) as sim:
        yield sim


async def _post(client: Client, path: str, csrf: str | None, **fields: str) -> Any:
    data = {"csrf_token": csrf, **fields} if csrf else fields
    return await client.post(path, data=data, headers=origin(client), allow_redirects=False)


async def _desk(db: Database, workspace_id: str, sim: ZendeskSim, label: str = "Acme EU") -> str:
    async with db.session() as session:
        account = await accounts.connect(
            session,
            Vault(SECRET),
            workspace_id,
            provider="zendesk",
            label=label,
            credentials={
                "subdomain": "acme",
                "email": sim.email,
                "api_token": sim.api_token,
                "api_url": sim.url,
            },
            actor="test",
            now=utcnow(),
        )
        return account.id


async def _runs(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(ImportRun)) or 0)


def _text(page: str) -> str:
    return htmllib.unescape(page)


async def test_an_import_started_from_the_console_is_followed_to_done(
    make_client: ClientFactory, db: Database, zendesk: ZendeskSim
) -> None:
    tenant = await make_tenant(db)
    client = await make_client(SWITCHBOARD_SECRET_KEY=SECRET)
    desk_id = await _desk(db, tenant.workspace_id, zendesk)
    csrf = await sign_in(client, db, tenant.member_id)

    before = await (await client.get("/console/integrations")).text()
    assert "Import open and pending tickets" in before and "Never imported" in before
    assert '<script src="/console/static/integrations.js" defer></script>' in before

    # Hold the run at its sixth ticket: the counts show how far it got.
    held = zendesk.open_ids()[5]
    zendesk.stall(times=1, path=f"/tickets/{held}/comments.json")
    started = await _post(client, f"/console/integrations/{desk_id}/imports", csrf)
    assert started.status == 302, await started.text()
    page = await (await client.get(started.headers["Location"])).text()
    assert "The import from Zendesk · Acme EU has started" in page
    async with db.session() as session:
        run_id = str(await session.scalar(select(ImportRun.id)))
    assert f'data-import-id="{run_id}" data-going="yes"' in page

    await wait_until(lambda: zendesk.stalled == 1, timeout=10)
    midway = await client.get(f"/console/integrations/imports/{run_id}")
    body = await midway.json()
    assert midway.status == 200
    assert (body["status"], body["imported"], body["skipped"]) == ("running", 5, 0)
    assert body["started_at"] and body["finished_at"] is None

    # A second start while it runs: the page says so, nothing new is queued.
    again = await _post(client, f"/console/integrations/{desk_id}/imports", csrf)
    text = _text(await again.text())
    assert again.status == 409
    assert "An import from Acme EU is already running (5 imported, 0 skipped so far)" in text
    assert "Nothing new was started." in text
    assert await _runs(db) == 1

    zendesk.release_stalled()

    async def finished() -> dict[str, Any] | None:
        state: dict[str, Any] = await (
            await client.get(f"/console/integrations/imports/{run_id}")
        ).json()
        return state if state["status"] == "done" else None

    done = await wait_until(finished, timeout=30)
    tickets = len(zendesk.open_ids())  # open and pending: the closed ones are not imported
    assert tickets == 30
    assert (done["imported"], done["skipped"], done["error"], done["going"]) == (30, 0, None, False)
    assert done["finished_at"]
    page = _text(await (await client.get("/console/integrations")).text())
    assert f'data-import-id="{run_id}" data-going="no"' in page
    assert '<dd data-field="imported">30</dd>' in page
    assert '<dd data-field="status" class="import-status done">done</dd>' in page

    # A run again: everything is already here, so it is all skipped.
    second = await _post(client, f"/console/integrations/{desk_id}/imports", csrf)
    assert second.status == 302
    async with db.session() as session:
        latest = await session.scalar(
            select(ImportRun.id).where(ImportRun.id != run_id).order_by(ImportRun.created_at)
        )

    async def second_done() -> dict[str, Any] | None:
        state: dict[str, Any] = await (
            await client.get(f"/console/integrations/imports/{latest}")
        ).json()
        return state if state["status"] == "done" else None

    redone = await wait_until(second_done, timeout=30)
    assert (redone["imported"], redone["skipped"]) == (0, 30)


async def test_refusals_store_nothing(
    make_client: ClientFactory, db: Database, zendesk: ZendeskSim
) -> None:
    a = await make_tenant(db)
    b = await make_tenant(db)
    async with db.session() as session:
        support = await make_member(session, a.workspace_id, role="support")
        support_id = support.id
    client = await make_client(SWITCHBOARD_SECRET_KEY=SECRET)
    desk_a = await _desk(db, a.workspace_id, zendesk)
    desk_b = await _desk(db, b.workspace_id, zendesk, label="B desk")
    async with db.session() as session:
        b_run = ImportRun(
            workspace_id=b.workspace_id,
            account_id=desk_b,
            status="done",
            imported=3,
            skipped=0,
            cursor={},
            created_at=utcnow(),
            updated_at=utcnow(),
        )
        session.add(b_run)
        await session.flush()
        b_run_id = b_run.id

    csrf = await sign_in(client, db, a.member_id)
    # Without the CSRF token: refused.
    assert (await _post(client, f"/console/integrations/{desk_a}/imports", None)).status == 403
    # Another workspace's account and run: not found.
    assert (await _post(client, f"/console/integrations/{desk_b}/imports", csrf)).status == 404
    assert (await client.get(f"/console/integrations/imports/{b_run_id}")).status == 404
    assert (await client.get("/console/integrations/imports/nope")).status == 404
    # A turned-off account: refused with the reason.
    async with db.session() as session:
        account = await session.get(IntegrationAccount, desk_a)
        assert account is not None
        account.enabled = False
    off = await _post(client, f"/console/integrations/{desk_a}/imports", csrf)
    assert off.status == 400
    text = _text(await off.text())
    assert "Acme EU is turned off: turn it on to import from it. Nothing was started." in text
    assert await _runs(db) == 1  # B's only

    # A support member: neither the button nor the counts.
    client.session.cookie_jar.clear()
    support_csrf = await sign_in(client, db, support_id)
    async with db.session() as session:
        account = await session.get(IntegrationAccount, desk_a)
        assert account is not None
        account.enabled = True
    forbidden = await _post(client, f"/console/integrations/{desk_a}/imports", support_csrf)
    assert forbidden.status == 403
    assert (await client.get(f"/console/integrations/imports/{b_run_id}")).status == 403
    assert await _runs(db) == 1
    assert zendesk.calls() == []


async def test_ringcentral_warning_and_manual_renewal(
    make_client: ClientFactory, db: Database
) -> None:
    async with RingCentralSim() as sim:
        client = await make_client(SWITCHBOARD_SECRET_KEY=SECRET, PUBLIC_BASE_URL=PUBLIC_BASE_URL)
        tenant = await make_tenant(db)
        local = str(client.make_url("")).rstrip("/")
        sim.reach = lambda url: url.replace(PUBLIC_BASE_URL, local)
        line = await connect_line(
            client,
            "ringcentral",
            {
                "client_id": sim.client_id,
                "client_secret": sim.client_secret,
                "jwt": sim.jwt,
                "extension_id": "101",
                "api_url": sim.url,
            },
            label="Acme East",
            workspace_id=tenant.workspace_id,
        )
        assert line.sentence is None, line.sentence
        csrf = await sign_in(client, db, tenant.member_id)
        page = _text(await (await client.get("/console/integrations")).text())
        assert "Renew subscription" in page and "Subscription expires" in page
        assert 'class="line-warning"' not in page

        # RingCentral fails: the renewal's failure is said and stays as the line's warning.
        sim.fail(status=503, times=None, path="/renew")
        failed = await _post(client, f"/console/integrations/{line.account_id}/renew", csrf)
        assert failed.status == 302
        page = _text(await (await client.get(failed.headers["Location"])).text())
        assert '<p class="error" role="alert">Renewing the subscription of RingCentral' in page
        assert page.count("The subscription could not be renewed") == 2  # message and row
        assert '<p class="line-warning" role="alert"><strong>Warning</strong>' in page
        assert "503" in page
        later = _text(await (await client.get("/console/integrations")).text())
        assert '<p class="line-warning" role="alert">' in later

        # RingCentral answers again: renewed, the warning gone, the new expiry shown.
        sim.clear_faults()
        renewed = await _post(client, f"/console/integrations/{line.account_id}/renew", csrf)
        assert renewed.status == 302
        page = _text(await (await client.get(renewed.headers["Location"])).text())
        assert "The subscription of RingCentral · Acme East is renewed until" in page
        assert 'class="line-warning"' not in page
        async with db.session() as session:
            account = await session.get(IntegrationAccount, line.account_id)
            assert account is not None
            assert "warning" not in account.state
            expires = datetime.fromisoformat(account.state["expires_at"])
        assert f"{expires:%Y-%m-%d %H:%M:%S} UTC" in page
        assert len(sim.calls("/renew")) == 2

        # Without the token, or for another workspace: refused, RingCentral not called.
        assert (
            await _post(client, f"/console/integrations/{line.account_id}/renew", None)
        ).status == 403
        other = await make_tenant(db)
        client.session.cookie_jar.clear()
        other_csrf = await sign_in(client, db, other.member_id)
        stranger = await _post(client, f"/console/integrations/{line.account_id}/renew", other_csrf)
        assert stranger.status == 404
        assert len(sim.calls("/renew")) == 2
