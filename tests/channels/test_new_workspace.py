"""A workspace made by `python main.py workspace create` serves its customers at once: its
default AI agent answers an SMS signed as Twilio signs it, and a customer who asks for a person
ends up in an assist the team sees through the admin API, and is told so."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import re
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

import main
from storage.db import Database
from storage.models import Workspace, WorkspaceAddress
from tests.channels.twilio_helpers import OUR_NUMBER, start
from tests.conftest import make_settings
from tests.sims.twilio import TwilioSim

CUSTOMER = "+15557770042"
CUSTOMER_EMAIL = "jane.roe@mail.example"


def _cli(database_url: str, *argv: str) -> str:
    """Run one command of main.py's command line against DATABASE_URL; what it printed."""
    args: argparse.Namespace = main.parser().parse_args(list(argv))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert args.fn(make_settings(database_url), args) == 0
    return out.getvalue()


async def test_a_new_workspace_answers_customers_by_sms_and_escalates_to_its_team(
    db: Database, database_url: str, make_client: Any, twilio_sim: TwilioSim
) -> None:
    # Two workspaces, so the Twilio number's mapping decides which one a text reaches.
    created = await asyncio.to_thread(_cli, database_url, "workspace", "create", "Acme")
    assert "AI agent Acme Assistant created" in created and "serving all channels" in created
    await asyncio.to_thread(_cli, database_url, "workspace", "create", "Globex")
    acme_key = (
        await asyncio.to_thread(_cli, database_url, "apikey", "create", "--workspace", "Acme")
    ).strip()
    globex_key = (
        await asyncio.to_thread(_cli, database_url, "apikey", "create", "--workspace", "Globex")
    ).strip()
    async with db.session() as session:
        acme = await session.scalar(select(Workspace).where(Workspace.name == "Acme"))
        assert acme is not None
        session.add(WorkspaceAddress(workspace_id=acme.id, channel="sms", address=OUR_NUMBER))
    phone = await start(make_client, twilio_sim)
    acme_auth = {"Authorization": f"Bearer {acme_key}"}

    # The default agent answers the customer's hello.
    await phone.text(CUSTOMER, "Hello")
    (welcome,) = await phone.replies(CUSTOMER, 1)
    assert welcome == "Hi! I'm Acme Assistant. How can I help?"
    assert [m["from"] for m in twilio_sim.sent(to=CUSTOMER)] == [OUR_NUMBER]

    # The customer asks for a person; the agent collects what the team needs.
    conversation = [
        (
            "I want to talk to a human",
            "Of course, I'll connect you with a person on our team.\n\nWhat's your name?",
        ),
        ("Jane Roe", "Thanks, Jane. What email address should the team reply to?"),
        (
            CUSTOMER_EMAIL,
            "Please check your details:\nName: Jane Roe\nEmail: jane.roe@mail.example\n"
            "Reply CONFIRM to send your request to the team, or send the correct details.",
        ),
    ]
    for number, (said, expected) in enumerate(conversation, start=2):
        await phone.text(CUSTOMER, said)
        assert (await phone.replies(CUSTOMER, number))[-1] == expected
    listed = await phone.client.get("/api/v1/assists", headers=acme_auth)
    assert (await listed.json())["items"] == []  # nothing recorded: nothing claimed yet

    await phone.text(CUSTOMER, "CONFIRM")
    told = (await phone.replies(CUSTOMER, 5))[-1]

    listed = await phone.client.get("/api/v1/assists", headers=acme_auth)
    assert listed.status == 200
    (assist,) = (await listed.json())["items"]
    assert told == (
        f"Thanks, Jane! Your request is {assist['ref']}: our team will get back to you by email "
        f"at {CUSTOMER_EMAIL}."
    )
    assert assist["status"] == "open" and assist["unread"]
    detail = await phone.client.get(f"/api/v1/assists/{assist['ref']}", headers=acme_auth)
    body = await detail.json()
    assert body["customer_details"]["phone"] == CUSTOMER
    assert body["customer_details"]["email"] == CUSTOMER_EMAIL
    assert body["escalation_reason"] == "The customer asked to talk to a person"
    # The other workspace sees none of it.
    other = await phone.client.get(
        "/api/v1/assists", headers={"Authorization": f"Bearer {globex_key}"}
    )
    assert (await other.json())["items"] == []

    # A support member added from the command line signs in with the link it prints and finds
    # the assist in the console's AI Inbox.
    printed = await asyncio.to_thread(
        _cli,
        database_url,
        *("member", "add", "--workspace", "Acme", "--name", "Sam", "--role", "support"),
        *("--email", "sam@acme.example"),
    )
    link = re.search(r"http://\S+/console/login/\S+", printed)
    assert link is not None, printed
    signed_in = await phone.client.get(urlsplit(link.group(0)).path, allow_redirects=False)
    assert signed_in.status == 302
    # PUBLIC_BASE_URL is https here, so the cookie is Secure: the test's plain-http client is
    # handed it explicitly, as a browser behind the TLS proxy would send it.
    cookie = signed_in.cookies["sb_session"]
    assert cookie["secure"]
    inbox = await phone.client.get(
        "/console/inbox", headers={"Cookie": f"sb_session={cookie.value}"}
    )
    assert inbox.status == 200
    assert f'href="/console/assists/{assist["ref"]}"' in await inbox.text()
