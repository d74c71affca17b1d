"""In Chromium: an Enterprise owner opens the Management view; the workload cards show the
figures counted here from the rows, toggling a member's availability and assigning an
unassigned assist change the database, and the assigned row leaves the list."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text

from core.reports.figures import duration
from storage.db import Database
from storage.domain import Assist
from storage.models import Member, OutboxRow
from storage.types import utcnow
from tests.browser.conftest import NewPage, Screenshot, StartGateway
from tests.browser.helpers import sign_in
from tests.management_team import seed_team

expect = pytest.importorskip(
    "playwright.async_api", reason="Playwright is not installed: pip install -e '.[dev]'"
).expect


def _moment(value: Any, now: datetime) -> datetime:
    value = datetime.fromisoformat(value) if isinstance(value, str) else value
    return value if value.tzinfo else value.replace(tzinfo=now.tzinfo)


async def _counted(db: Database, member_id: str, now: datetime) -> tuple[int, str, str]:
    """Open assists, average resolution and CSAT as the card should show them, from SQL."""
    async with db.session() as session:
        open_count = (
            await session.execute(
                text(
                    "SELECT count(*) FROM assists WHERE assignee_id = :m "
                    "AND status IN ('open', 'pending')"
                ),
                {"m": member_id},
            )
        ).scalar()
        closed = list(
            await session.execute(
                text(
                    "SELECT a.created_at, a.closed_at, c.csat FROM assists a "
                    "LEFT JOIN conversations c ON c.id = a.conversation_id "
                    "WHERE a.assignee_id = :m AND a.status = 'closed'"
                ),
                {"m": member_id},
            )
        )
    recent = [
        (_moment(a, now), _moment(b, now), c)
        for a, b, c in closed
        if _moment(b, now) > now - timedelta(days=30)
    ]
    spans = [(b - a).total_seconds() for a, b, _ in recent]
    rated = [c for _, _, c in recent if c is not None]
    resolution = duration(sum(spans) / len(spans)) if spans else "—"
    csat = f"{sum(rated) / len(rated):.1f}/5" if rated else "—"
    return int(open_count or 0), resolution, csat


async def test_management_cards_toggle_and_assign(
    live_gateway: StartGateway, new_page: NewPage, screenshot: Screenshot
) -> None:
    gw = await live_gateway()
    now = utcnow()
    team = await seed_team(gw.db, now)
    page = await new_page()
    await sign_in(page, gw, team.tenant.member_id)
    await (
        page.get_by_role("navigation", name="Console")
        .get_by_role("link", name="Management")
        .click()
    )
    await expect(page).to_have_url(gw.at("/console/management"))
    await expect(page.get_by_role("heading", name="Management", exact=True)).to_be_visible()

    for member_id in (team.tenant.member_id, team.maria, team.priya, team.sam):
        open_count, resolution, csat = await _counted(gw.db, member_id, now)
        card = page.locator(f'li[data-member="{member_id}"]')
        await expect(card.locator('[data-figure="open"]')).to_have_text(str(open_count))
        await expect(card.locator('[data-figure="resolution"]')).to_have_text(resolution)
        await expect(card.locator('[data-figure="csat"]')).to_have_text(csat)
        await expect(card.locator('[data-figure="availability"]')).to_have_text("available")
    maria = page.locator(f'li[data-member="{team.maria}"]')
    await expect(maria.locator('[data-figure="open"]')).to_have_text("7")  # seeded, as read
    await expect(maria.locator('[data-figure="high-load"]')).to_have_text("High load")
    await expect(page.locator('[data-figure="high-load"]')).to_have_count(1)
    queue = page.get_by_role("region", name="Queue health")
    await expect(queue.locator('[data-figure="unassigned"]')).to_have_text("3")
    await expect(queue.locator('[data-figure="oldest"]')).to_have_text("6 days")
    # Customer text is shown as text, never as markup.
    await expect(page.get_by_text("<b>from a customer</b>").first).to_be_visible()
    await screenshot(page, "management", full_page=False)

    # Maria goes offline from her card: the database says so, and the card too.
    await maria.get_by_role("button", name="Set Maria Lopez offline").click()
    await expect(page.get_by_role("status")).to_have_text("Maria Lopez is now offline.")
    async with gw.db.session() as session:
        row = await session.get(Member, team.maria)
        assert row is not None and row.availability == "offline"
        assert row.availability_changed_at is not None
    await expect(maria.locator('[data-figure="availability"]')).to_have_text("offline")

    # The oldest unassigned assist goes to Sam in one click (after choosing him).
    oldest = team.unassigned_refs[-1]
    unassigned = page.get_by_role("region", name="Unassigned")
    await expect(unassigned.locator(f'tr[data-ref="{oldest}"]')).to_have_count(1)
    await unassigned.get_by_label(f"Assignee for {oldest}").select_option(value=team.sam)
    await unassigned.get_by_role("button", name=f"Assign {oldest}").click()
    await expect(page.get_by_role("status")).to_have_text(f"{oldest} is assigned to Sam Stone.")
    await expect(unassigned.locator(f'tr[data-ref="{oldest}"]')).to_have_count(0)
    await expect(queue.locator('[data-figure="unassigned"]')).to_have_text("2")
    async with gw.db.session() as session:
        number = int(oldest.removeprefix("A-"))
        assigned = await session.scalar(
            select(Assist.assignee_id).where(
                Assist.workspace_id == team.tenant.workspace_id, Assist.number == number
            )
        )
        assert assigned == team.sam
        # Sam is told, with the link to the assist.
        sam = await session.get(Member, team.sam)
        assert sam is not None
        notices = await session.scalars(
            select(OutboxRow.deliverable).where(
                OutboxRow.channel == "email", OutboxRow.address == sam.email
            )
        )
        assert any(f"/console/assists/{oldest}" in d["text"] for d in notices)

    # Maria available again: on Enterprise the waiting assists are handed out at once.
    await maria.get_by_role("button", name="Set Maria Lopez available").click()
    await expect(page.get_by_role("status")).to_have_text("Maria Lopez is now available.")
    await expect(queue.locator('[data-figure="unassigned"]')).to_have_text("0")
    async with gw.db.session() as session:
        waiting = await session.scalar(
            select(func.count())
            .select_from(Assist)
            .where(
                Assist.workspace_id == team.tenant.workspace_id,
                Assist.status.in_(("open", "pending")),
                Assist.assignee_id.is_(None),
            )
        )
        assert waiting == 0
    async with gw.db.session() as session:
        number = int(oldest.removeprefix("A-"))
        (assignee,) = (
            await session.execute(
                text("SELECT assignee_id FROM assists WHERE workspace_id = :ws AND number = :n"),
                {"ws": team.tenant.workspace_id, "n": number},
            )
        ).one()
        assert assignee == team.sam
    sam = page.locator(f'li[data-member="{team.sam}"]')
    await expect(sam.locator('[data-figure="open"]')).to_have_text("1")
    await screenshot(page, "management_full", full_page=True)
