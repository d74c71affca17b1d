"""Browser test helpers: a gateway that emails through the SendGrid simulator, the demo
workspace seeded in its database, and a member signed in through a one-time link."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from cli.seed import Seeded, seed_workspace
from core.team.signin import sign_in_link
from storage.domain import Assist
from storage.models import Member
from storage.types import utcnow
from tests.browser.conftest import LiveGateway, StartGateway
from tests.channels.email_helpers import email_settings
from tests.helpers import wait_until
from tests.sims.sendgrid import SendGridSim

if TYPE_CHECKING:
    from playwright.async_api import Page

OLIVIA = "olivia@demo.example"  # owner
SAM = "sam@demo.example"  # support


async def email_gateway(live_gateway: StartGateway, sendgrid: SendGridSim) -> LiveGateway:
    """The gateway with SendGrid pointed at its simulator and Inbound Parse on; its own URL
    (plain http, so the session cookie is not Secure) is PUBLIC_BASE_URL."""
    settings = email_settings(sendgrid)
    del settings["PUBLIC_BASE_URL"]
    return await live_gateway(**settings)


async def seed(gw: LiveGateway) -> Seeded:
    async with gw.db.session() as session:
        return await seed_workspace(session, now=utcnow() - timedelta(minutes=1))


async def sign_in(page: Page, gw: LiveGateway, member_id: str) -> None:
    """Opens a one-time sign-in link in PAGE, as the member would from their email."""
    async with gw.db.session() as session:
        member = await session.get(Member, member_id)
        assert member is not None
        link = await sign_in_link(session, member, gw.url, now=utcnow())
    await page.goto(link)
    assert page.url.startswith(gw.at("/console/inbox")), page.url


async def assist(gw: LiveGateway, workspace_id: str, ref: str) -> Assist:
    async with gw.db.session() as session:
        row = await session.scalar(
            select(Assist).where(
                Assist.workspace_id == workspace_id, Assist.number == int(ref.split("-")[1])
            )
        )
        assert row is not None
        return row


def mails_to(sendgrid: SendGridSim, address: str) -> list[dict[str, Any]]:
    return [
        m
        for m in sendgrid.mails()
        if [to["email"] for to in m["personalizations"][0]["to"]] == [address]
    ]


def text_of(mail: dict[str, Any]) -> str:
    return next(str(c["value"]) for c in mail["content"] if c["type"] == "text/plain")


async def mail_to(sendgrid: SendGridSim, address: str, containing: str) -> dict[str, Any]:
    """The first email the simulator received for ADDRESS whose text holds CONTAINING."""
    found = await wait_until(
        lambda: next((m for m in mails_to(sendgrid, address) if containing in text_of(m)), None),
        timeout=10,
        message=f"an email to {address} saying {containing!r} at the SendGrid simulator",
    )
    assert found is not None
    return found
