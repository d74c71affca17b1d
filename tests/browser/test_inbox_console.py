"""In Chromium: a support member works an escalated assist from the AI Inbox. The list shows the
open assists newest first; on the assist's page the member rewrites the AI's draft, types,
sends it (the SendGrid simulator receives it in the assist's thread), adds an internal note
(never sent) and closes with the CSAT survey (emailed in the same thread). The same member is
refused the team, agents and History pages; signing out ends the session for its cookie."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from aiohttp import ClientSession
from sqlalchemy import select

from storage.domain import Assist, AssistEvent
from tests.browser.conftest import NewPage, Screenshot, StartGateway
from tests.browser.helpers import (
    SAM,
    assist,
    email_gateway,
    mail_to,
    mails_to,
    seed,
    sign_in,
    text_of,
)
from tests.channels.email_helpers import INBOUND_DOMAIN
from tests.helpers import settled
from tests.sims.sendgrid import SendGridSim

if TYPE_CHECKING:
    from playwright.async_api import Dialog, Route

expect = pytest.importorskip(
    "playwright.async_api", reason="Playwright is not installed: pip install -e '.[dev]'"
).expect

OUR_REPLY = "We found the charge and refunded it; expect it by Friday."
NOTE = "Checked the payment log: one duplicate charge, refunded."


async def test_a_support_member_answers_notes_and_closes_an_assist(
    live_gateway: StartGateway,
    new_page: NewPage,
    screenshot: Screenshot,
    sendgrid_sim: SendGridSim,
) -> None:
    gw = await email_gateway(live_gateway, sendgrid_sim)
    seeded = await seed(gw)
    async with gw.db.session() as session:
        open_ = list(
            await session.scalars(
                select(Assist)
                .where(Assist.workspace_id == seeded.workspace_id, Assist.status == "open")
                .order_by(Assist.created_at.desc(), Assist.number.desc())
            )
        )
    newest_first = [x.ref for x in open_]

    page = await new_page()
    await sign_in(page, gw, seeded.member_ids[SAM])

    # The inbox: open assists, newest first, each linking to its page.
    rows = page.locator("#assist-list li[data-ref]")
    await expect(rows).to_have_count(len(newest_first))
    assert [await row.get_attribute("data-ref") for row in await rows.all()] == newest_first
    await expect(page.get_by_role("heading", name="AI Inbox")).to_be_visible()
    await expect(page.get_by_text("Select an assist to read it.")).to_be_visible()
    await screenshot(page, "inbox")

    # Sam opens the newest escalated assist.
    chosen = open_[0]
    ref = chosen.ref
    customer = str(chosen.customer_details["email"])
    await rows.first.get_by_role("link").click()
    await expect(page).to_have_url(re.compile(rf"/console/assists/{ref}(\?|$)"))
    nav = page.get_by_role("navigation", name="Console")
    await expect(nav.get_by_role("link", name="AI Inbox")).to_have_attribute("aria-current", "page")
    subject = str(chosen.subject)
    await expect(page.get_by_role("heading", name=subject)).to_be_visible()
    await expect(page.locator("#timeline li.kind-customer")).to_contain_text(subject)

    # The reply box opens with the AI's draft, marked as such.
    reply = page.get_by_role("textbox", name="Reply", exact=True)
    mark = page.locator("#ai-draft")
    await expect(reply).to_have_value(str(chosen.suggested_reply))
    await expect(mark).to_be_visible()

    # Should the script's request fail, a rewrite button still works as a plain form.
    async def fail_scripts(route: Route) -> None:
        if route.request.resource_type == "fetch":
            await route.abort()
        else:
            await route.continue_()

    refine_url = gw.at(f"/console/assists/{ref}/refine")
    await page.route(refine_url, fail_scripts)
    await page.get_by_role("button", name="More casual", exact=True).click()
    await expect(page.locator("#flash")).to_have_text("The AI draft was rewritten (More casual).")
    await page.unroute(refine_url, fail_scripts)
    casual = str(chosen.suggested_reply).replace("we are", "we're")
    assert casual != chosen.suggested_reply
    await expect(reply).to_have_value(casual)
    await expect(mark).to_be_visible()

    # A one-line draft cannot get shorter: the page says so rather than seeming stuck.
    await page.get_by_role("button", name="Shorter", exact=True).click()
    await expect(page.get_by_text("Shorter found nothing to change")).to_be_visible()
    await expect(reply).to_have_value(casual)

    # Regenerate, then Shorter, rewrite the draft in place: still the AI's, so still marked.
    await page.get_by_role("button", name="Regenerate", exact=True).click()
    await expect(page.get_by_text("Shorter found nothing to change")).to_be_hidden()
    await expect(reply).not_to_have_value(casual)
    fresh = await reply.input_value()
    assert fresh.startswith("Hi Customer,\n\n") and "Best regards," in fresh, fresh
    await expect(mark).to_be_visible()
    await page.get_by_role("button", name="Shorter", exact=True).click()
    await expect(reply).not_to_have_value(fresh)
    shorter = await reply.input_value()
    assert 0 < len(shorter) < len(fresh)
    await expect(mark).to_be_visible()
    await expect(page.locator("#suggested")).to_have_text(shorter)
    assert (await assist(gw, seeded.workspace_id, ref)).suggested_reply == shorter  # kept

    # Sam types: the text is Sam's now, and the mark goes.
    await reply.fill(OUR_REPLY)
    await expect(mark).to_be_hidden()
    # A rewrite button now asks before replacing Sam's words; "Cancel" keeps them.
    asked: list[str] = []

    async def cancel(dialog: Dialog) -> None:
        asked.append(dialog.message)
        await dialog.dismiss()

    page.once("dialog", cancel)
    await page.get_by_role("button", name="More formal", exact=True).click()
    assert [m.split("?")[0] for m in asked] == [
        "Replace what you wrote with the AI's draft, rewritten (More formal)"
    ]
    await expect(reply).to_have_value(OUR_REPLY)
    await expect(mark).to_be_hidden()
    assert (await assist(gw, seeded.workspace_id, ref)).suggested_reply == shorter

    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(page.locator("#flash")).to_have_text(f"Reply sent to {customer}.")
    await expect(page.locator("#timeline li.kind-reply").last).to_contain_text(OUR_REPLY)
    await expect(page.locator("#timeline li.kind-reply").last).to_contain_text("Sam Support")
    await expect(page.locator("#assist-status")).to_have_text("pending")

    sent = await mail_to(sendgrid_sim, customer, OUR_REPLY)
    # In the assist's thread: tagged with its reference, answered through its reply+ address.
    assert sent["subject"].startswith(f"[{ref}] ")
    assert re.fullmatch(rf"reply\+[\w-]+@{re.escape(INBOUND_DOMAIN)}", sent["reply_to"]["email"])
    reply_id = sent["headers"]["Message-ID"]

    # An internal note: kept on the assist, never emailed.
    await page.get_by_role("tab", name="Internal note").click()
    await expect(reply).to_be_hidden()
    await page.get_by_role("textbox", name="Internal note", exact=True).fill(NOTE)
    await page.get_by_role("button", name="Add note").click()
    await expect(page.locator("#flash")).to_contain_text("the customer does not see it")
    await expect(page.locator("#timeline li.kind-note").last).to_contain_text(NOTE)
    await screenshot(page, "assist")

    # Close with the satisfaction survey (ticked by default: the customer has an email).
    survey = page.get_by_label("Email the customer a satisfaction survey")
    await expect(survey).to_be_checked()
    await expect(page.locator("#train")).to_have_count(0)  # training is not for support
    await page.get_by_role("button", name="Close assist").click()
    await expect(page.locator("#flash")).to_have_text(
        f"{ref} is closed. A satisfaction survey was emailed to {customer}."
    )
    await expect(page.locator("#assist-status")).to_have_text("closed")
    await expect(page.get_by_role("button", name="Reopen")).to_be_visible()

    closing = await mail_to(sendgrid_sim, customer, "/csat/")
    assert closing["subject"].startswith(f"[{ref}] ")
    assert closing["headers"]["In-Reply-To"] == reply_id  # the same thread as the reply
    assert reply_id in closing["headers"]["References"]
    ratings = re.findall(rf"{re.escape(gw.url)}/csat/\S+", text_of(closing))
    assert [link.rsplit("=", 1)[1] for link in ratings] == ["5", "4", "3", "2", "1"]

    await settled(gw.db)
    assert all(NOTE not in text_of(m) for m in sendgrid_sim.mails())  # the note never left
    assert len(mails_to(sendgrid_sim, customer)) == 2  # the reply and the survey
    closed = await assist(gw, seeded.workspace_id, ref)
    assert closed.status == "closed" and closed.resolution == OUR_REPLY
    async with gw.db.session() as session:
        events = list(
            await session.scalars(
                select(AssistEvent)
                .where(AssistEvent.assist_id == closed.id, AssistEvent.author == "Sam Support")
                .order_by(AssistEvent.created_at)
            )
        )
    assert [(e.kind, e.body) for e in events] == [("reply", OUR_REPLY), ("note", NOTE)]

    # Support is refused the team, the AI agents and History: a 403 page saying why.
    for path, title in (
        ("/console/team", "Team"),
        ("/console/agents", "AI agents"),
        ("/console/history", "History"),
    ):
        response = await page.goto(gw.at(path))
        assert response is not None and response.status == 403, path
        await expect(
            page.get_by_role("heading", name=f"{title} is not available to you")
        ).to_be_visible()
        await expect(page.get_by_text("you are signed in as support")).to_be_visible()

    # Signing out ends the session: the cookie it had opens nothing any more.
    await page.goto(gw.at("/console/inbox"))
    (cookie,) = [c for c in await page.context.cookies() if c["name"] == "sb_session"]
    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(gw.at("/console/login"))
    async with ClientSession(cookies={"sb_session": cookie["value"]}) as old_browser:
        inbox = await old_browser.get(gw.at("/console/inbox"), allow_redirects=False)
        assert inbox.status == 302
        assert inbox.headers["Location"].startswith("/console/login")
        state = await old_browser.get(gw.at(f"/console/assists/{ref}/state"), allow_redirects=False)
        assert state.status == 302
        assert state.headers["Location"].startswith("/console/login")
