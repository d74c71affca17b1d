"""The console's Integrations page over HTTP: owners and admins only; connect, test, turn
off and on, edit (a blank secret keeps the saved one) and remove (after a confirmation);
refused forms store nothing; no page ever holds a saved secret; another workspace's account
is not found; without SWITCHBOARD_SECRET_KEY the page says what to set and its forms are off."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from sqlalchemy import func, select

from storage.db import Database
from storage.domain import Snapshot
from storage.integrations import IntegrationAccount
from tests.api import Client, ClientFactory
from tests.console.helpers import origin, sign_in
from tests.factories import make_member, make_tenant
from tests.sims.checks import ChecksSim

SECRET = "console tests' long random secret"
TOKEN = ChecksSim.GOOD["zendesk"]["api_token"]
TWILIO_TOKEN = ChecksSim.GOOD["twilio"]["auth_token"]
BASE = "http://sb.example.com"  # http: the test client keeps no Secure cookie


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[ChecksSim]:
    async with ChecksSim() as running:
        yield running
    assert not running.handler_errors


async def _rows(db: Database) -> list[IntegrationAccount]:
    async with db.session() as session:
        return list(
            await session.scalars(select(IntegrationAccount).order_by(IntegrationAccount.provider))
        )


async def _post(client: Client, path: str, csrf: str, **fields: str) -> Any:
    return await client.post(
        path, data={"csrf_token": csrf, **fields}, headers=origin(client), allow_redirects=False
    )


def _no_secrets(html: str) -> None:
    for secret in (TOKEN, TWILIO_TOKEN, SECRET):
        assert secret not in html


async def test_connect_test_switch_edit_and_remove(
    make_client: ClientFactory, db: Database, sim: ChecksSim
) -> None:
    tenant = await make_tenant(db)
    client = await make_client(SWITCHBOARD_SECRET_KEY=SECRET, PUBLIC_BASE_URL=BASE)
    csrf = await sign_in(client, db, tenant.member_id)

    empty = await client.get("/console/integrations")
    html = await empty.text()
    assert empty.status == 200 and "Nothing connected yet." in html
    assert 'href="/console/integrations"' in html  # in the navigation
    for provider in ("zendesk", "freshdesk", "intercom", "helpscout", "happyfox", "twilio",
                     "dialpad", "ringcentral", "aircall", "quo", "vonage"):  # fmt: skip
        assert f'id="{provider}"' in html
    assert 'id="zendesk-api_token" name="api_token" type="password"' in html

    # Without the CSRF token: refused, nothing stored.
    refused = await client.post(
        "/console/integrations",
        data={"provider": "zendesk", **ChecksSim.GOOD["zendesk"]},
        headers=origin(client),
    )
    assert refused.status == 403 and await _rows(db) == []

    # A required field missing: 400, nothing stored, the plain fields kept, the secret not.
    bad = await _post(
        client,
        "/console/integrations",
        csrf,
        provider="zendesk",
        label="Acme EU",
        subdomain="acme",
        email="",
        api_token=TOKEN,
    )
    html = await bad.text()
    assert bad.status == 400 and "Zendesk needs email (Agent email). Nothing was saved." in html
    assert 'value="acme"' in html
    _no_secrets(html)
    assert await _rows(db) == []

    connected = await _post(
        client,
        "/console/integrations",
        csrf,
        provider="zendesk",
        label="Acme EU",
        **ChecksSim.GOOD["zendesk"],
        api_url=sim.url,
    )
    html = await connected.text()
    assert connected.status == 200, html
    assert "Zendesk · Acme EU is connected." in html
    assert "••••good" in html
    _no_secrets(html)

    line = await _post(
        client,
        "/console/integrations",
        csrf,
        provider="twilio",
        label="Support line",
        **ChecksSim.GOOD["twilio"],
        api_url=sim.url,
    )
    html = await line.text()
    twilio, zendesk = await _rows(db)  # by provider
    webhook = f"{BASE}/telephony/twilio/{twilio.id}"
    assert f"Paste its webhook URL into Twilio ({webhook})" in html
    assert f'value="{webhook}"' in html
    _no_secrets(html)

    # Test connection: the provider is called, the result shown and kept.
    tested = await _post(client, f"/console/integrations/{zendesk.id}/test", csrf)
    assert tested.status == 302
    page = await client.get(tested.headers["Location"])
    html = await page.text()
    assert "Test connection of Zendesk · Acme EU works: Connected to Zendesk as Ops Agent" in html
    assert len(sim.calls("/api/v2/users/me.json")) == 1

    # Turn off: through a proposal (a snapshot for undo), the page shows it off.
    switched = await _post(
        client, f"/console/integrations/{twilio.id}/enabled", csrf, enabled="off"
    )
    assert switched.status == 302
    html = await (await client.get(switched.headers["Location"])).text()
    assert "Twilio · Support line is off." in html
    assert [r.enabled for r in await _rows(db) if r.id == twilio.id] == [False]
    async with db.session() as session:
        assert int(await session.scalar(select(func.count()).select_from(Snapshot)) or 0) == 1
    bad_switch = await _post(
        client, f"/console/integrations/{twilio.id}/enabled", csrf, enabled="x"
    )
    assert bad_switch.status == 400

    # Edit: a new label; the secret left blank keeps the saved one.
    saved = await _post(
        client,
        f"/console/integrations/{zendesk.id}",
        csrf,
        label="Acme Europe",
        subdomain="acme",
        email="ops@acme.example",
        api_token="",
        api_url=sim.url,
    )
    assert saved.status == 302
    html = await (await client.get(saved.headers["Location"])).text()
    assert "Zendesk · Acme Europe is saved." in html
    assert "Saved (••••good); leave blank to keep." in html
    tested = await _post(client, f"/console/integrations/{zendesk.id}/test", csrf)
    html = await (await client.get(tested.headers["Location"])).text()
    assert "Acme Europe works" in html

    # Remove: a confirmation first (nothing removed), then removed.
    confirm = await _post(client, f"/console/integrations/{zendesk.id}/remove", csrf)
    html = await confirm.text()
    assert confirm.status == 200 and "Remove Zendesk · Acme Europe?" in html
    assert len(await _rows(db)) == 2
    removed = await _post(client, f"/console/integrations/{zendesk.id}/remove", csrf, confirm="yes")
    assert removed.status == 302
    html = await (await client.get(removed.headers["Location"])).text()
    assert "The account is removed" in html
    assert [r.id for r in await _rows(db)] == [twilio.id]
    _no_secrets(html)


async def test_access_and_tenancy(make_client: ClientFactory, db: Database, sim: ChecksSim) -> None:
    a = await make_tenant(db)
    b = await make_tenant(db)
    async with db.session() as session:
        support = await make_member(session, a.workspace_id, role="support")
        support_id = support.id
    client = await make_client(SWITCHBOARD_SECRET_KEY=SECRET)

    signed_out = await client.get("/console/integrations", allow_redirects=False)
    assert signed_out.status == 302 and "/console/login" in signed_out.headers["Location"]

    csrf_b = await sign_in(client, db, b.member_id)
    await _post(
        client,
        "/console/integrations",
        csrf_b,
        provider="intercom",
        label="B's Intercom",
        access_token="ic-token-of-b-0123",
    )
    (b_account,) = await _rows(db)

    client.session.cookie_jar.clear()
    csrf_a = await sign_in(client, db, a.member_id)
    html = await (await client.get("/console/integrations")).text()
    assert "B&#39;s Intercom" not in html and "B's Intercom" not in html
    for action, fields in [
        ("test", {}),
        ("enabled", {"enabled": "off"}),
        ("remove", {"confirm": "yes"}),
        ("", {"label": "mine now"}),
    ]:
        path = f"/console/integrations/{b_account.id}" + (f"/{action}" if action else "")
        response = await _post(client, path, csrf_a, **fields)
        assert response.status == 404, (action, await response.text())
    (unchanged,) = await _rows(db)
    assert (unchanged.label, unchanged.enabled) == ("B's Intercom", True)

    client.session.cookie_jar.clear()
    await sign_in(client, db, support_id)
    forbidden = await client.get("/console/integrations")
    assert forbidden.status == 403
    assert 'href="/console/integrations"' not in await forbidden.text()


async def test_without_the_secret_key_the_page_says_what_to_set(
    make_client: ClientFactory, db: Database
) -> None:
    tenant = await make_tenant(db)
    client = await make_client()
    csrf = await sign_in(client, db, tenant.member_id)
    html = await (await client.get("/console/integrations")).text()
    assert "SWITCHBOARD_SECRET_KEY is not set" in html
    assert len(re.findall(r"<fieldset disabled>", html)) == 11  # every Connect form
    refused = await _post(
        client,
        "/console/integrations",
        csrf,
        provider="zendesk",
        **ChecksSim.GOOD["zendesk"],
    )
    assert refused.status == 409
    assert "SWITCHBOARD_SECRET_KEY is not set" in await refused.text()
    assert await _rows(db) == []
