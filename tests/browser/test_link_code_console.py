"""In Chromium: a member asks their profile page for a link code, sees it with what to send,
and the Slack account that sends it is linked to them."""

from __future__ import annotations

import re
from typing import Any, cast

import aiohttp
import pytest
from sqlalchemy import select

from storage.models import ChannelIdentity
from tests.browser.conftest import NewPage, Screenshot, StartGateway
from tests.channels.slack_payloads import SIGNING_SECRET, direct_message, post
from tests.console.helpers import link_for
from tests.factories import make_member, make_workspace
from tests.helpers import wait_until
from tests.sims.slack import SlackSim

expect = pytest.importorskip(
    "playwright.async_api", reason="Playwright is not installed: pip install -e '.[dev]'"
).expect


async def test_member_gets_a_link_code_on_the_profile_page(
    live_gateway: StartGateway, new_page: NewPage, screenshot: Screenshot, slack_sim: SlackSim
) -> None:
    gw = await live_gateway(
        SLACK_BOT_TOKEN=slack_sim.token,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack_sim.api_url,
        SWITCHBOARD_SECRET_KEY="browser-link-secret",
    )
    async with gw.db.session() as session:
        workspace = await make_workspace(session, name="Acme")
        member = await make_member(
            session, workspace.id, name="Olivia Ortiz", role="support", email="olivia@acme.example"
        )
    page = await new_page()
    await page.goto(await link_for(gw.db, member.id, gw.url))
    await page.goto(gw.at("/console/profile"))
    card = page.locator("section", has=page.get_by_role("heading", name="Link a chat account"))
    await card.get_by_role("button", name="Get a link code").click()

    code_text = page.get_by_label("Link code")
    await expect(code_text).to_have_text(re.compile(r"^[0-9]{6}$"))
    code = await code_text.inner_text()
    await expect(card.get_by_role("status")).to_contain_text(f"Send “link {code}” from Slack")
    await screenshot(page, "profile-link-code", full_page=True)

    # Olivia sends it from Slack (signed as Slack signs), straight to the gateway.
    async with aiohttp.ClientSession(base_url=gw.url) as http:
        response = await post(cast(Any, http), direct_message(f"link {code}", user="U0OLIVIA7"))
        assert response.status == 200
    (reply,) = await wait_until(lambda: slack_sim.posted(), timeout=10)
    assert reply["text"] == "Linked this Slack account to Olivia Ortiz (olivia@acme.example)."
    async with gw.db.session() as session:
        identity = await session.scalar(
            select(ChannelIdentity).where(ChannelIdentity.channel == "slack")
        )
    assert identity is not None and identity.member_id == member.id
