"""In Chromium: an owner invites someone, the email reaches the SendGrid simulator, the invitee
accepts in their own browser, lands in the inbox, signs out and in again with email and
password, and as a support member is refused the team page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from core.team.signin import hash_password
from storage.models import Member
from tests.browser.conftest import NewPage, Screenshot, StartGateway
from tests.channels.email_helpers import EMAIL_FROM
from tests.factories import make_member, make_workspace
from tests.helpers import wait_until
from tests.sims.sendgrid import SendGridSim

expect = pytest.importorskip(
    "playwright.async_api", reason="Playwright is not installed: pip install -e '.[dev]'"
).expect

OWNER_EMAIL, OWNER_PASSWORD = "olivia@acme.example", "owner password 1"
INVITEE, INVITEE_PASSWORD = "jo@acme.example", "jo's own password"


def _link_in(mail: dict[str, Any], base: str) -> str | None:
    for part in mail.get("content", []):
        found = re.search(re.escape(base) + r"/console/invitations/[\w-]+", part["value"])
        if found:
            return found.group(0)
    return None


async def test_invite_accept_sign_in_and_the_support_403(
    live_gateway: StartGateway,
    new_page: NewPage,
    screenshot: Screenshot,
    sendgrid_sim: SendGridSim,
) -> None:
    gw = await live_gateway(
        SENDGRID_API_KEY=sendgrid_sim.api_key,
        SENDGRID_API_URL=sendgrid_sim.url,
        EMAIL_FROM=EMAIL_FROM,
    )
    async with gw.db.session() as session:
        workspace = await make_workspace(session, name="Acme Support", plan="pro")
        owner = await make_member(
            session, workspace.id, name="Olivia Owner", role="owner", email=OWNER_EMAIL
        )
        owner.password_hash = hash_password(OWNER_PASSWORD)
        await make_member(session, workspace.id, name="Sam Support", role="support")

    # The owner signs in with email and password.
    page = await new_page()
    await page.goto(gw.at("/console/team"))
    await expect(page).to_have_url(re.compile(r"/console/login\?next="))
    await expect(page.get_by_role("heading", name="Sign in to Switchboard")).to_be_visible()
    await screenshot(page, "login")
    await page.get_by_label("Email").fill(OWNER_EMAIL)
    await page.get_by_label("Password").fill(OWNER_PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(gw.at("/console/team"))

    # ... and invites Jo as support: the link is emailed at once.
    await page.get_by_label("Email", exact=True).fill(INVITEE)
    await page.get_by_label("Name", exact=True).fill("Jo")
    await page.get_by_label("Role", exact=True).select_option("support")
    await page.get_by_role("button", name="Send invitation").click()
    await expect(page.get_by_role("status")).to_contain_text(f"Invitation emailed to {INVITEE}")
    pending = page.get_by_role("region", name="Pending invitations")
    invited = pending.get_by_role("row").filter(has_text=INVITEE)
    await expect(invited).to_contain_text("support")
    await expect(invited).to_contain_text("Olivia Owner")  # invited by
    await expect(pending.get_by_role("button", name=f"Resend link to {INVITEE}")).to_be_visible()
    await screenshot(page, "team", full_page=True)

    mail = await wait_until(
        lambda: next((m for m in sendgrid_sim.mails() if _link_in(m, gw.url)), None),
        timeout=15,
        message="the invitation email at the SendGrid simulator",
    )
    assert [to["email"] for to in mail["personalizations"][0]["to"]] == [INVITEE]
    assert mail["subject"] == "Join Acme Support on Switchboard"
    link = _link_in(mail, gw.url)
    assert link is not None

    # Jo, in another browser, opens the link and chooses a name and password.
    jo = await new_page()
    await jo.goto(link)
    await expect(jo.get_by_role("heading", name="Join Acme Support")).to_be_visible()
    await jo.get_by_label("Your name").fill("Jo Park")
    # One field each, found as a user (or a test) would by its label alone.
    await jo.get_by_label("Password").fill(INVITEE_PASSWORD)
    await jo.get_by_role("button", name="Accept invitation").click()
    await expect(jo).to_have_url(gw.at("/console/inbox"))
    await expect(jo.get_by_role("link", name="Jo Park")).to_be_visible()
    await screenshot(jo, "inbox-after-accepting")

    # Signing out ends the session; email and password sign Jo in again.
    await jo.get_by_role("button", name="Sign out").click()
    await expect(jo).to_have_url(gw.at("/console/login"))
    await jo.goto(gw.at("/console/inbox"))
    await expect(jo).to_have_url(re.compile(r"/console/login"))
    await jo.get_by_label("Email").fill(INVITEE)
    await jo.get_by_label("Password").fill(INVITEE_PASSWORD)
    await jo.get_by_role("button", name="Sign in").click()
    await expect(jo).to_have_url(gw.at("/console/inbox"))

    # A support member: no Team link, and the URL itself answers a 403 page.
    await expect(jo.get_by_role("navigation", name="Console").get_by_role("link")).to_have_text(
        ["AI Inbox", "Live"]
    )
    response = await jo.goto(gw.at("/console/team"))
    assert response is not None and response.status == 403
    await expect(jo.get_by_role("heading", name="Team is not available to you")).to_be_visible()
    await screenshot(jo, "team-refused")

    # Every member has a profile, from their name in the top bar.
    await jo.get_by_role("link", name="Jo Park").click()
    await expect(jo.get_by_role("heading", name="Your profile")).to_be_visible()
    await expect(jo.get_by_label("Name", exact=True)).to_have_value("Jo Park")
    await screenshot(jo, "profile")

    # The owner's team page now lists Jo as an active support member.
    await page.reload()
    members = page.get_by_role("region", name="Members")
    row = members.get_by_role("row").filter(has_text="Jo Park")
    await expect(row).to_contain_text(INVITEE)
    await expect(row).to_contain_text("active")
    await expect(page.get_by_text("No pending invitations.")).to_be_visible()
    await page.set_viewport_size({"width": 390, "height": 844})  # a phone
    await expect(page.get_by_role("button", name="Send invitation")).to_be_visible()
    await screenshot(page, "team-phone", full_page=True)
    async with gw.db.session() as session:
        joined = await session.scalar(select(Member).where(Member.email == INVITEE))
        assert joined is not None and (joined.name, joined.role) == ("Jo Park", "support")
