"""In Chromium, two live operators in their own browsers: a customer's SMS (signed as Twilio
signs it) is offered to the one live longest, who accepts and answers; the text reaches the
customer through the Twilio simulator; the customer's next SMS appears without a reload; the
session is transferred to the other operator, who completes it; the customer is told, and the
AI answers their next SMS."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import ClientSession

from core.team.agents import create_workspace_with_agent
from storage.db import Database
from storage.domain import QaPair
from storage.live import OperatorPresence
from tests.browser.conftest import LiveGateway, NewPage, Screenshot, StartGateway
from tests.browser.helpers import sign_in
from tests.console.live_helpers import live_team
from tests.factories import make_member
from tests.helpers import wait_until
from tests.sims.twilio import TwilioSim, message_webhook, twilio_signature

expect = pytest.importorskip(
    "playwright.async_api", reason="Playwright is not installed: pip install -e '.[dev]'"
).expect

OUR_NUMBER = "+15550009999"
CUSTOMER = "+15550123456"
LIVE = 8_000  # ms: an event crosses the socket, then the page reads its JSON view
REFUND_ANSWER = "Refunds reach your card within 3 business days."
STAY = "() => { window.loadedOnce = true; }"
STAYED = "() => window.loadedOnce === true"


async def _gateway(live_gateway: StartGateway, sim: TwilioSim) -> LiveGateway:
    return await live_gateway(
        TWILIO_ACCOUNT_SID=sim.account_sid,
        TWILIO_AUTH_TOKEN=sim.auth_token,
        TWILIO_API_URL=sim.url,
        TWILIO_SMS_FROM=OUR_NUMBER,
        SWITCHBOARD_SECRET_KEY="test-secret-key-for-media-links",
    )


async def _text(gw: LiveGateway, sim: TwilioSim, body: str) -> None:
    """The customer texts BODY: Twilio posts it, signed for the gateway's public URL."""
    params = message_webhook(account_sid=sim.account_sid, from_=CUSTOMER, to=OUR_NUMBER, body=body)
    url = gw.at("/twilio/sms")
    headers = {"X-Twilio-Signature": twilio_signature(sim.auth_token, url, params)}
    async with ClientSession() as twilio:
        response = await twilio.post(url, data=params, headers=headers)
        assert response.status == 200, await response.text()


async def _sent(sim: TwilioSim, count: int) -> list[str]:
    """The bodies the simulator received for the customer, once there are COUNT."""

    def arrived() -> list[str] | None:
        bodies = [str(m["body"]) for m in sim.sent(to=CUSTOMER)]
        return bodies if len(bodies) >= count else None

    return await wait_until(arrived, timeout=15, message=f"{count} SMS to the customer")


async def _team(db: Database) -> tuple[str, str, str]:
    async with db.session() as session:
        made = await create_workspace_with_agent(session, "Acme Support", plan="pro")
        olivia = await make_member(session, made.workspace.id, role="owner", name="Olivia Owner")
        sam = await make_member(session, made.workspace.id, role="support", name="Sam Support")
        session.add(
            QaPair(
                workspace_id=made.workspace.id,
                question="How long does a refund take?",
                answer=REFUND_ANSWER,
            )
        )
        return made.workspace.id, olivia.id, sam.id


async def _go_live(page: Any) -> None:
    await page.goto(page.url.split("/console/")[0] + "/console/live")
    await page.get_by_role("button", name="Go live").click()
    await expect(page.get_by_role("heading", name="You are live")).to_be_visible()


async def test_two_operators_take_a_customer_sms_and_hand_it_back_to_the_ai(
    live_gateway: StartGateway,
    new_page: NewPage,
    twilio_sim: TwilioSim,
    screenshot: Screenshot,
) -> None:
    gw = await _gateway(live_gateway, twilio_sim)
    workspace_id, olivia_id, sam_id = await _team(gw.db)
    await live_team(gw.db, workspace_id, [olivia_id, sam_id])

    # Both go live, Olivia first: on a tie the one live longest is offered first.
    olivia = await new_page()
    await sign_in(olivia, gw, olivia_id)
    await _go_live(olivia)
    sam = await new_page()
    await sign_in(sam, gw, sam_id)
    await _go_live(sam)
    await expect(olivia.locator("#operators tr")).to_have_count(2, timeout=LIVE)
    await olivia.evaluate(STAY)

    await _text(gw, twilio_sim, "Hi, I was charged twice for my order 5521.")
    offer = olivia.locator("#offers li.offer")
    await expect(offer).to_have_count(1, timeout=LIVE)
    await expect(offer).to_contain_text("charged twice for my order 5521")
    await expect(offer).to_contain_text(CUSTOMER)
    await expect(offer.locator(".countdown")).to_contain_text("s left")
    assert await olivia.evaluate(STAYED)  # the offer came without a reload
    await expect(sam.locator("#offers li.offer")).to_have_count(0)
    await screenshot(olivia, "live-offer")

    await offer.get_by_role("button", name="Accept").click()
    await olivia.wait_for_url("**/console/live/sessions/*")
    answer = "Hello, this is Olivia from billing. I can see the double charge; refunding it now."
    await olivia.get_by_role("textbox", name="Message", exact=True).fill(answer)
    await olivia.get_by_role("button", name="Send", exact=True).click()
    assert (await _sent(twilio_sim, 1)) == [answer]  # exactly that text; the AI said nothing
    await expect(olivia.locator("#history li.author-member")).to_contain_text(answer)
    await expect(olivia.get_by_role("textbox", name="Message", exact=True)).to_have_value("")

    await olivia.evaluate(STAY)
    await _text(gw, twilio_sim, "Thank you! How long will the refund take?")
    reply = olivia.locator("#history li.author-customer").last
    await expect(reply).to_contain_text("How long will the refund take?", timeout=LIVE)
    assert await olivia.evaluate(STAYED)
    await screenshot(olivia, "live-session")

    # Olivia hands the conversation to Sam, who accepts it in his own browser.
    await olivia.get_by_label("Transfer to").select_option(label="Sam Support (0 active)")
    await olivia.get_by_role("button", name="Transfer").click()
    await olivia.wait_for_url("**/console/live?done=transferred")
    sam_offer = sam.locator("#offers li.offer")
    await expect(sam_offer).to_have_count(1, timeout=LIVE)
    await expect(sam_offer).to_contain_text("How long will the refund take?")
    await sam_offer.get_by_role("button", name="Accept").click()
    await sam.wait_for_url("**/console/live/sessions/*")
    await expect(sam.locator("#history")).to_contain_text(answer)  # the whole history
    # Sam asks the AI: its answer from the knowledge base fills the box, to edit and send.
    await sam.get_by_role("link", name="Ask the AI").click()
    await expect(sam.locator(".suggestion")).to_contain_text("Q&A pair")
    box = sam.get_by_role("textbox", name="Message", exact=True)
    await expect(box).to_have_value(REFUND_ANSWER)
    await box.fill(REFUND_ANSWER + " Anything else?")
    await screenshot(sam, "live-session-suggestion")
    await sam.get_by_role("button", name="Send", exact=True).click()
    assert (await _sent(twilio_sim, 2))[1] == REFUND_ANSWER + " Anything else?"
    await screenshot(sam, "live-session-transferred")

    await sam.get_by_role("button", name="Complete").click()
    await expect(sam.locator(".read-only")).to_contain_text("read-only")
    told = (await _sent(twilio_sim, 3))[2]
    assert "AI assistant will take it from here" in told
    await screenshot(sam, "live-session-completed")

    # The AI answers the customer's next message again.
    await _text(gw, twilio_sim, "One more thing: can I change my delivery address?")
    after = await _sent(twilio_sim, 4)
    assert len(after) == 4 and after[3] not in (answer, REFUND_ANSWER + " Anything else?", told)
    await sam.goto(gw.at("/console/live"))
    await expect(sam.locator("#count-active")).to_have_text("0")
    await screenshot(sam, "live-dashboard", full_page=True)


async def test_an_owner_turns_live_on_and_sets_up_a_group(
    live_gateway: StartGateway, new_page: NewPage, screenshot: Screenshot
) -> None:
    gw = await live_gateway()
    _, olivia_id, _ = await _team(gw.db)
    page = await new_page()
    await sign_in(page, gw, olivia_id)
    await page.get_by_role("link", name="Live", exact=True).click()
    await expect(page.get_by_role("heading", name="Live Operator Mode is off")).to_be_visible()
    await screenshot(page, "live-off")
    settings = page.locator("details.live-settings")
    await settings.get_by_label("On").first.check()  # Live Operator Mode
    await settings.get_by_label("On").nth(1).check()  # presence
    await settings.get_by_role("button", name="Save live settings").click()
    await expect(page.get_by_role("status")).to_have_text("Live settings saved.")
    # No group yet: nothing to go live on, and the page says where to fix that.
    await page.get_by_role("link", name="Add yourself to a group").click()
    await page.get_by_label("Name").fill("Billing desk")
    await page.get_by_label("Description").fill("Refunds, invoices and double charges")
    await page.get_by_label("Acme Support Assistant").check()
    await page.get_by_label("Olivia Owner").check()
    await page.get_by_label("Sam Support").check()
    await page.get_by_role("button", name="Create group").click()
    await expect(page.get_by_role("status")).to_have_text("Group saved.")
    row = page.locator("table.groups tbody tr")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text("Sam Support")
    await screenshot(page, "live-groups")
    await page.get_by_role("link", name="← Live").click()
    await page.get_by_role("button", name="Go live").click()
    await expect(page.get_by_role("heading", name="You are live")).to_be_visible()
    await expect(page.locator("#operators tr")).to_have_count(1)
    await screenshot(page, "live-desk", full_page=True)


async def test_a_live_operator_on_another_page_stays_live_and_hears_of_offers(
    live_gateway: StartGateway,
    new_page: NewPage,
    twilio_sim: TwilioSim,
    screenshot: Screenshot,
) -> None:
    gw = await _gateway(live_gateway, twilio_sim)
    workspace_id, olivia_id, _ = await _team(gw.db)
    await live_team(gw.db, workspace_id, [olivia_id])
    olivia = await new_page()
    await sign_in(olivia, gw, olivia_id)
    await _go_live(olivia)
    left = await _seen(gw.db, olivia_id)
    await (
        olivia.get_by_role("navigation", name="Console")
        .get_by_role("link", name="AI Inbox")
        .click()
    )
    # The inbox's own socket heartbeats: the presence is refreshed after she left Live.
    await wait_until(lambda: _seen_after(gw.db, olivia_id, left), timeout=10)
    await _text(gw, twilio_sim, "Is anyone there? My parcel never arrived.")
    notice = olivia.locator("#live-toast")
    await expect(notice).to_contain_text("A live conversation is offered to you", timeout=LIVE)
    await screenshot(olivia, "live-offer-toast")
    await notice.get_by_role("link", name="Open Live").click()
    await expect(olivia.locator("#offers li.offer")).to_contain_text("parcel never arrived")
    # Offline from the desk: the other pages stop holding her presence.
    await olivia.get_by_role("button", name="Go offline").click()
    await expect(olivia.get_by_role("heading", name="You are offline")).to_be_visible()
    assert await _seen(gw.db, olivia_id) is None


async def _seen(db: Database, member_id: str) -> Any:
    async with db.session() as session:
        row = await session.get(OperatorPresence, member_id)
        return row.seen_at if row is not None else None


async def _seen_after(db: Database, member_id: str, moment: Any) -> bool:
    seen = await _seen(db, member_id)
    return seen is not None and seen > moment
