"""In Chromium: an owner opens the operator panel with Ctrl+Shift+O, asks for a figure (a card
with a chart), asks for a change (a proposal showing the current and proposed value) and
approves it (carried out once); then restores the change from History, which is proposed and
approved in turn, and the earlier value is back."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from core.reports import analytics
from storage.domain import Conversation, Snapshot
from storage.types import utcnow
from tests.browser.conftest import LiveGateway, NewPage, Screenshot, StartGateway
from tests.browser.helpers import OLIVIA, assist, seed, sign_in

expect = pytest.importorskip(
    "playwright.async_api", reason="Playwright is not installed: pip install -e '.[dev]'"
).expect

ANSWER = 15_000  # ms: the operator's answer comes from the task pipeline
# An image's natural width once it has loaded or failed (0 when it failed).
LOADED = """img => img.complete ? img.naturalWidth : new Promise(done => {
  img.addEventListener("load", () => done(img.naturalWidth));
  img.addEventListener("error", () => done(0));
})"""


async def _resolution_rate_this_week(gw: LiveGateway, workspace_id: str) -> str:
    """Counted here from the rows, not through the code under test."""
    window, _ = analytics.windows("this_week", utcnow(), "UTC")
    async with gw.db.session() as session:
        solved = list(
            await session.scalars(
                select(Conversation.resolved_by_ai).where(
                    Conversation.workspace_id == workspace_id,
                    Conversation.started_at >= window.start,
                    Conversation.started_at < window.end,
                )
            )
        )
    return f"{100 * sum(solved) / len(solved):.1f}%" if solved else "no data"


async def _snapshots_of(gw: LiveGateway, proposal_id: str) -> list[int]:
    async with gw.db.session() as session:
        return list(
            await session.scalars(select(Snapshot.id).where(Snapshot.proposal_id == proposal_id))
        )


async def test_an_owner_approves_a_change_and_restores_it_from_history(
    live_gateway: StartGateway, new_page: NewPage, screenshot: Screenshot
) -> None:
    gw = await live_gateway()
    seeded = await seed(gw)
    workspace = seeded.workspace_id
    assert (await assist(gw, workspace, "A-1042")).priority == "high"
    expected_rate = await _resolution_rate_this_week(gw, workspace)

    page = await new_page()
    await sign_in(page, gw, seeded.member_ids[OLIVIA])
    await page.keyboard.press("Control+Shift+O")  # from the inbox
    await expect(page).to_have_url(gw.at("/console/operator"))
    await expect(page.get_by_role("heading", name="Operator", exact=True)).to_be_visible()
    snapshot = page.get_by_role("region", name="Right now")
    await expect(snapshot).to_contain_text("AI resolution rate, this week")
    await expect(snapshot).to_contain_text("Unassigned assists")
    await expect(page.get_by_text("What I can help with")).to_be_visible()

    # A read: a card with the figure, counted here independently, its chart and next step.
    box = page.get_by_role("textbox", name="Ask the operator")
    await expect(box).to_be_focused()
    await box.fill("how is our resolution rate this week?")
    await page.get_by_role("button", name="Send", exact=True).click()
    card = page.locator(".reply.kind-card").filter(has_text="Resolution rate, this week")
    await expect(card).to_be_visible(timeout=ANSWER)
    rate = card.locator(".field").filter(has=page.locator("dt", has_text="Resolution rate"))
    await expect(rate.locator("dd").first).to_have_text(expected_rate)
    await expect(card.locator(".next-step")).to_contain_text("Next step")
    chart = card.get_by_role("img", name="Chart: Resolution rate, this week")
    await expect(chart).to_be_visible()
    assert await chart.evaluate(LOADED) > 0  # the PNG loads (signed link, right session)

    # A write: proposed first, with the current and the proposed value; nothing changed yet.
    await box.fill("set A-1042 to normal priority")
    await box.press("Enter")
    proposal = page.locator(".proposal[data-proposal]").filter(has_text="A-1042 priority")
    await expect(proposal).to_be_visible(timeout=ANSWER)
    await expect(proposal.get_by_role("heading", name="Approval needed")).to_be_visible()
    change = proposal.get_by_role("row").filter(has_text="A-1042 priority")
    await expect(change.locator("td.before")).to_have_text("high")
    await expect(change.locator("td.after")).to_have_text("normal")
    proposal_id = await proposal.get_attribute("data-proposal")
    assert proposal_id
    assert (await assist(gw, workspace, "A-1042")).priority == "high"
    await screenshot(page, "operator")

    await proposal.get_by_role("button", name="Approve").click()
    await expect(proposal).to_contain_text("Done: set A-1042 to normal priority", timeout=ANSWER)
    await expect(proposal).to_contain_text("Approved and carried out")
    await expect(proposal.get_by_role("button", name="Approve")).to_have_count(0)
    assert (await assist(gw, workspace, "A-1042")).priority == "normal"
    (snapshot_id,) = await _snapshots_of(gw, proposal_id)  # carried out once

    # History, from the clock icon: the change with the value it replaced.
    await page.get_by_role("main").get_by_role("link", name="History").click()
    await expect(page).to_have_url(gw.at("/console/history"))
    entries = page.locator("li.entry")
    await expect(entries.first).to_have_attribute("id", f"snapshot-{snapshot_id}")  # newest
    entry = page.locator(f"li.entry#snapshot-{snapshot_id}")
    await expect(entry.get_by_role("heading")).to_have_text("set A-1042 to normal priority")
    await expect(entry).to_contain_text("Olivia Owner")
    row = entry.get_by_role("row").filter(has_text="A-1042 priority")
    await expect(row.locator("td.before")).to_have_text("high")
    await expect(row.locator("td.after")).to_have_text("normal")

    # Restore proposes putting "high" back; nothing changes until it is approved.
    await entry.get_by_role("button", name="Restore").click()
    restore = entry.locator(".proposal[data-proposal]")
    await expect(restore).to_be_visible(timeout=ANSWER)
    await expect(page).to_have_url(re.compile(r"/console/history\?task="))
    back = restore.get_by_role("row").filter(has_text="A-1042 priority (restore)")
    await expect(back.locator("td.before")).to_have_text("normal")
    await expect(back.locator("td.after")).to_have_text("high")
    await expect(entry).to_contain_text("Restore waiting for approval")
    assert (await assist(gw, workspace, "A-1042")).priority == "normal"
    await page.evaluate("() => window.scrollTo(0, 0)")  # the page opened at the entry
    await screenshot(page, "history")

    await restore.get_by_role("button", name="Approve").click()
    await expect(page.get_by_role("status")).to_contain_text(
        "Done: restore snapshot", timeout=ANSWER
    )
    entry = page.locator(f"li.entry#snapshot-{snapshot_id}")
    await expect(entry.locator(".status")).to_have_text("Restored")
    await expect(entry.get_by_role("button", name="Restore")).to_be_disabled()
    assert (await assist(gw, workspace, "A-1042")).priority == "high"
    assert await _snapshots_of(gw, proposal_id) == [snapshot_id]  # the approval ran once

    # On a phone every area stays in reach: the navigation wraps rather than clipping.
    await page.set_viewport_size({"width": 390, "height": 844})
    nav = page.get_by_role("navigation", name="Console")
    for area in ("AI Inbox", "Operator", "Live", "History", "AI agents", "Team"):
        await expect(nav.get_by_role("link", name=area, exact=True)).to_be_in_viewport(ratio=1)
