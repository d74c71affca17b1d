"""In Chromium: an owner connects a Twilio line and a Zendesk account on the Integrations page
(the provider calls go to the checks simulator through api_url), tests both connections, sees
the webhook URL to paste for Twilio, turns the line off, and removes both after confirming.
No saved secret ever appears in the page. Then an import from a Zendesk account (its
simulator) is started with the page's button and its counts reach done without a reload; a
RingCentral line's failed renewal shows as its warning, and Renew subscription clears it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy import select

from core.integrations import accounts, hooks
from core.integrations.vault import Vault
from storage.integrations import ImportRun, IntegrationAccount
from storage.types import utcnow
from tests.browser.conftest import NewPage, Screenshot, StartGateway
from tests.browser.helpers import sign_in
from tests.factories import make_member, make_workspace
from tests.sims.checks import ChecksSim
from tests.sims.ringcentral import RingCentralSim
from tests.sims.zendesk import ZendeskSim

expect = pytest.importorskip(
    "playwright.async_api", reason="Playwright is not installed: pip install -e '.[dev]'"
).expect

SECRET = "browser tests' long random secret"


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[ChecksSim]:
    async with ChecksSim() as running:
        yield running
    assert not running.handler_errors


async def test_connect_test_switch_and_remove_a_line_and_a_help_desk(
    live_gateway: StartGateway, new_page: NewPage, screenshot: Screenshot, sim: ChecksSim
) -> None:
    gw = await live_gateway(SWITCHBOARD_SECRET_KEY=SECRET)
    async with gw.db.session() as session:
        workspace = await make_workspace(session, name="Acme Support", plan="pro")
        owner = await make_member(session, workspace.id, name="Olivia Owner", role="owner")
        owner_id = owner.id
    page = await new_page()
    await sign_in(page, gw, owner_id)

    await (
        page.get_by_role("navigation", name="Console")
        .get_by_role("link", name="Integrations")
        .click()
    )
    await expect(page.get_by_role("heading", name="Integrations", exact=True)).to_be_visible()
    await expect(page.get_by_text("Nothing connected yet.")).to_be_visible()

    # Connect the Twilio line.
    twilio = page.get_by_role("form", name="Connect Twilio")
    good = ChecksSim.GOOD["twilio"]
    await twilio.get_by_label("Label").fill("Support line")
    await twilio.get_by_label("Account SID").fill(good["account_sid"])
    await twilio.get_by_label("Auth token").fill(good["auth_token"])
    await twilio.get_by_label("Phone number").fill(good["phone_number"])
    await twilio.get_by_label("API base URL (optional)").fill(sim.url)
    await twilio.get_by_role("button", name="Connect").click()
    await expect(page.get_by_role("status")).to_contain_text("Twilio · Support line is connected.")
    async with gw.db.session() as session:
        line = await session.scalar(
            select(IntegrationAccount).where(IntegrationAccount.provider == "twilio")
        )
        assert line is not None
    webhook = gw.at(f"/telephony/twilio/{line.id}")
    await expect(page.get_by_role("status")).to_contain_text(
        f"Paste its webhook URL into Twilio ({webhook})"
    )
    await expect(page.locator(f"#webhook-{line.id}")).to_have_value(webhook)

    # Connect Zendesk.
    zendesk = page.get_by_role("form", name="Connect Zendesk")
    good = ChecksSim.GOOD["zendesk"]
    await zendesk.get_by_label("Label").fill("Acme EU")
    await zendesk.get_by_label("Subdomain").fill(good["subdomain"])
    await zendesk.get_by_label("Agent email").fill(good["email"])
    await zendesk.get_by_label("API token").fill(good["api_token"])
    await zendesk.get_by_label("API base URL (optional)").fill(sim.url)
    await zendesk.get_by_role("button", name="Connect").click()
    await expect(page.get_by_role("status")).to_contain_text("Zendesk · Acme EU is connected.")
    await screenshot(page, "integrations-connected", full_page=True)

    # Test both connections.
    await page.get_by_role("button", name="Test connection of Zendesk Acme EU").click()
    await expect(page.get_by_role("status")).to_contain_text(
        "Test connection of Zendesk · Acme EU works: Connected to Zendesk as Ops Agent"
    )
    await page.get_by_role("button", name="Test connection of Twilio Support line").click()
    await expect(page.get_by_role("status")).to_contain_text(
        "Test connection of Twilio · Support line works"
    )
    assert len(sim.calls("/IncomingPhoneNumbers.json")) == 1
    await screenshot(page, "integrations-tested")

    # Turn the line off.
    await page.get_by_role("button", name="Turn off Twilio Support line").click()
    await expect(page.get_by_role("status")).to_have_text("Twilio · Support line is off.")
    await expect(page.get_by_role("button", name="Turn on Twilio Support line")).to_be_visible()
    await screenshot(page, "integrations-line-off")

    html = await page.content()
    for secret in (ChecksSim.GOOD["twilio"]["auth_token"], ChecksSim.GOOD["zendesk"]["api_token"]):
        assert secret not in html

    # Remove both, each after its confirmation.
    for name, title in (
        ("Zendesk Acme EU", "Zendesk · Acme EU"),
        ("Twilio Support line", "Twilio · Support line"),
    ):
        await page.get_by_role("button", name=f"Remove {name}").click()
        await expect(page.get_by_role("heading", name=f"Remove {title}?")).to_be_visible()
        if name.startswith("Zendesk"):
            await screenshot(page, "integrations-confirm-remove")
        await page.get_by_role("button", name="Yes, remove it").click()
        await expect(page.get_by_role("status")).to_contain_text("The account is removed")
    await expect(page.get_by_text("Nothing connected yet.")).to_be_visible()
    async with gw.db.session() as session:
        assert list(await session.scalars(select(IntegrationAccount))) == []


async def test_an_import_is_started_and_its_counts_reach_done_without_a_reload(
    live_gateway: StartGateway, new_page: NewPage, screenshot: Screenshot
) -> None:
    async with ZendeskSim(tickets=12, closed=2) as zendesk:
        gw = await live_gateway(SWITCHBOARD_SECRET_KEY=SECRET)
        async with gw.db.session() as session:
            workspace = await make_workspace(session, name="Acme Support", plan="pro")
            owner = await make_member(session, workspace.id, name="Olivia Owner", role="owner")
            owner_id = owner.id
            desk = await accounts.connect(
                session,
                Vault(SECRET),
                workspace.id,
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
            desk_id = desk.id
        page = await new_page()
        await sign_in(page, gw, owner_id)
        await page.goto(gw.at("/console/integrations"))
        last = page.get_by_label("Last import of Zendesk Acme EU")
        await expect(last).to_contain_text("Never imported")

        # Held at its fourth ticket, the run shows as running with three imported.
        zendesk.stall(times=1, path=f"/tickets/{zendesk.open_ids()[3]}/comments.json")
        await page.get_by_role(
            "button", name="Import open and pending tickets from Zendesk Acme EU"
        ).click()
        await expect(page.get_by_role("status")).to_contain_text(
            "The import from Zendesk · Acme EU has started"
        )
        await page.evaluate("window.sbNotReloaded = true")
        status = last.locator('[data-field="status"]')
        imported = last.locator('[data-field="imported"]')
        await expect(status).to_have_text("running", timeout=10000)
        await expect(imported).to_have_text("3", timeout=10000)
        await screenshot(page, "integrations-import-running")

        zendesk.release_stalled()
        await expect(status).to_have_text("done", timeout=20000)
        await expect(imported).to_have_text(str(len(zendesk.open_ids())))
        await expect(last.locator('[data-field="skipped"]')).to_have_text("0")
        await expect(last.locator('[data-field="finished_at"]')).to_contain_text("UTC")
        assert await page.evaluate("window.sbNotReloaded === true")
        await screenshot(page, "integrations-import-done")
        async with gw.db.session() as session:
            runs = list(await session.scalars(select(ImportRun)))
        assert [(r.account_id, r.status, r.imported) for r in runs] == [(desk_id, "done", 12)]


async def test_a_ringcentral_line_warns_after_a_failed_renewal_and_renews_by_hand(
    live_gateway: StartGateway, new_page: NewPage, screenshot: Screenshot
) -> None:
    async with RingCentralSim() as sim:
        gw = await live_gateway(SWITCHBOARD_SECRET_KEY=SECRET)
        async with gw.db.session() as session:
            workspace = await make_workspace(session, name="Acme Support", plan="pro")
            owner = await make_member(session, workspace.id, name="Olivia Owner", role="owner")
            owner_id = owner.id
            line = await accounts.connect(
                session,
                Vault(SECRET),
                workspace.id,
                provider="ringcentral",
                label="Acme East",
                credentials={
                    "client_id": sim.client_id,
                    "client_secret": sim.client_secret,
                    "jwt": sim.jwt,
                    "extension_id": "101",
                    "api_url": sim.url,
                },
                actor="test",
                now=utcnow(),
            )
            said = await hooks.after_connect(
                session, Vault(SECRET), line, base_url=gw.url, now=utcnow()
            )
            assert said is None, said
        page = await new_page()
        await sign_in(page, gw, owner_id)
        await page.goto(gw.at("/console/integrations"))
        renew = page.get_by_role("button", name="Renew subscription of RingCentral Acme East")

        sim.fail(status=503, times=None, path="/renew")
        await renew.click()
        await expect(page.locator(".line-warning")).to_contain_text(
            "The subscription could not be renewed"
        )
        await expect(page.locator("p.error")).to_contain_text(
            "Renewing the subscription of RingCentral · Acme East failed."
        )
        await screenshot(page, "integrations-renewal-failed")

        sim.clear_faults()
        await renew.click()
        await expect(page.get_by_role("status")).to_contain_text(
            "The subscription of RingCentral · Acme East is renewed until"
        )
        await expect(page.locator(".line-warning")).to_have_count(0)
        assert len(sim.calls("/renew")) == 2
