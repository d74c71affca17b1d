"""IMAP polling (`channels/email/imap.py`) against the IMAP4rev1 simulator: messages in the
mailbox reach the same rules as Inbound Parse posts, are marked \\Seen only once handled, and a
poller that dies in between makes nothing twice."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from channels.email.imap import ImapConfig, ImapError, ImapPoller
from core.assists.email_identity import identity_from
from core.assists.mail import send_assist_email
from storage.db import Database
from storage.domain import Assist, AssistEvent
from storage.email import EmailRecord
from storage.models import TaskRow
from storage.types import utcnow
from tests.channels.email_helpers import INBOX, Mailroom, email_settings, seed, start, stored_rows
from tests.channels.email_payloads import eml, simple_email
from tests.helpers import wait_until
from tests.sims.imap import ImapSim
from tests.sims.sendgrid import SendGridSim

CUSTOMER = "jane.roe@mail.example"
OLIVIA = "olivia@demo.example"  # the seeded workspace's owner


@pytest.fixture
async def imap_sim() -> AsyncIterator[ImapSim]:
    sim = ImapSim()
    await sim.start()
    try:
        yield sim
    finally:
        await sim.close()


def imap_settings(sim: ImapSim, **overrides: Any) -> dict[str, Any]:
    return {
        "IMAP_HOST": sim.host,
        "IMAP_PORT": sim.port,
        "IMAP_USER": sim.user,
        "IMAP_PASSWORD": sim.password,
        "IMAP_SECURITY": "none",
        **overrides,
    }


async def _poller(
    make_client: Any, db: Database, sendgrid_sim: SendGridSim, sim: ImapSim, **extra: Any
) -> tuple[Mailroom, ImapPoller]:
    settings = {**email_settings(sendgrid_sim), **imap_settings(sim), **extra}
    mailroom = await start(make_client, db, **settings)
    config = ImapConfig.from_settings(mailroom.gateway.settings)
    assert config is not None
    return mailroom, ImapPoller(mailroom.gateway, config)


async def _email_tasks(db: Database) -> list[TaskRow]:
    async with db.session() as session:
        return list(await session.scalars(select(TaskRow).where(TaskRow.channel == "email")))


def _to(mail: dict[str, Any]) -> str:
    return str(mail["personalizations"][0]["to"][0]["email"])


async def test_a_customers_email_in_the_mailbox_is_answered_then_marked_seen(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim, imap_sim: ImapSim
) -> None:
    await seed(db)
    mailroom, poller = await _poller(make_client, db, sendgrid_sim, imap_sim)
    old = imap_sim.add(
        simple_email(
            sender=CUSTOMER, to=INBOX, subject="Old", text="read", message_id="<old@mail.example>"
        ),
        seen=True,
    )
    new = imap_sim.add(
        simple_email(
            sender=f"Jane Roe <{CUSTOMER}>",
            to=INBOX,
            subject="Where is my parcel?",
            text="My order #5521 has not arrived yet.",
            message_id="<parcel-1@mail.example>",
        )
    )

    assert await poller.poll() == 1
    await sendgrid_sim.wait_for(1)
    await mailroom.settled()

    (task,) = await _email_tasks(db)
    assert (task.kind, task.external_id, task.sender_address, task.sender_name) == (
        "message",
        "<parcel-1@mail.example>",
        CUSTOMER,
        "Jane Roe",
    )
    (answer,) = sendgrid_sim.mails()
    assert _to(answer) == CUSTOMER
    assert dict(answer["headers"])["In-Reply-To"] == "<parcel-1@mail.example>"
    assert imap_sim.unseen() == []
    assert {m.uid for m in imap_sim.messages} == {old, new}
    # Fetched without setting \Seen (BODY.PEEK): only the STORE after handling marks it.
    assert imap_sim.commands[-4:] == [
        "UID SEARCH UNSEEN",
        f"UID FETCH {new} (BODY.PEEK[])",
        f"UID STORE {new} +FLAGS (\\Seen)",
        "LOGOUT",
    ]
    assert await poller.poll() == 0  # nothing unseen is left


async def test_a_reply_in_the_mailbox_threads_into_its_assist(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim, imap_sim: ImapSim
) -> None:
    await seed(db)
    mailroom, poller = await _poller(make_client, db, sendgrid_sim, imap_sim)
    identity = identity_from(mailroom.gateway.settings)
    async with db.session() as session:
        assist = await session.scalar(select(Assist).where(Assist.number == 1042))
        assert assist is not None
        customer = str(assist.customer_details["email"])
        sent = await send_assist_email(session, identity, assist, to=customer, text="Refunded.")
    imap_sim.add(
        eml(
            "gmail_reply.eml",
            sender=customer,
            sender_name="Customer 2",
            to=INBOX,
            subject="Re: [A-1042] Your refund",
            message_id="<CAJ4xk8Q-imap-1@mail.gmail.com>",
            in_reply_to=sent.message_id,
            references=[sent.message_id],
        )
    )

    assert await poller.poll() == 1

    async with db.session() as session:
        events = list(
            await session.scalars(
                select(AssistEvent).where(
                    AssistEvent.assist_id == assist.id, AssistEvent.kind == "customer_reply"
                )
            )
        )
    assert [e.author for e in events] == [customer]
    assert events[0].body.startswith("Thanks, that fixed it!")
    assert [(t.kind, t.status, t.raw["matched_by"]) for t in await _email_tasks(db)] == [
        ("email_reply", "done", "references")
    ]
    assert imap_sim.unseen() == []


async def test_a_crash_before_marking_seen_makes_nothing_twice(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim, imap_sim: ImapSim
) -> None:
    await seed(db)
    mailroom, poller = await _poller(make_client, db, sendgrid_sim, imap_sim)
    uid = imap_sim.add(
        simple_email(
            sender=CUSTOMER,
            to=INBOX,
            subject="Refund",
            text="Please refund order #48213.",
            message_id="<crash-1@mail.example>",
        )
    )
    imap_sim.fail_store = True  # handled and journalled, then the \Seen never lands

    with pytest.raises(ImapError, match="STORE"):
        await poller.poll()
    await sendgrid_sim.wait_for(1)
    await mailroom.settled()
    after_first = await stored_rows(db)
    assert imap_sim.unseen() == [uid]

    imap_sim.fail_store = False
    assert await poller.poll() == 1
    await mailroom.settled()

    assert imap_sim.unseen() == []
    assert await stored_rows(db) == after_first
    assert len(await _email_tasks(db)) == 1
    assert len(sendgrid_sim.mails()) == 1  # answered once


async def test_an_unreadable_message_is_marked_seen_and_stores_nothing(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim, imap_sim: ImapSim
) -> None:
    await seed(db)
    _, poller = await _poller(make_client, db, sendgrid_sim, imap_sim)
    imap_sim.add(b"Subject: no sender\r\nMessage-ID: <nofrom@x.example>\r\n\r\nhello\r\n")
    before = await stored_rows(db)

    assert await poller.poll() == 1

    assert imap_sim.unseen() == []
    assert await stored_rows(db) == before


async def test_a_wrong_password_is_reported_without_it_and_stores_nothing(
    db: Database,
    make_client: Any,
    sendgrid_sim: SendGridSim,
    imap_sim: ImapSim,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await seed(db)
    _, poller = await _poller(
        make_client, db, sendgrid_sim, imap_sim, IMAP_PASSWORD="wrongIMAPsecret42"
    )
    imap_sim.add(
        simple_email(sender=CUSTOMER, to=INBOX, subject="Hi", text="Hi", message_id="<w@x.y>")
    )
    before = await stored_rows(db)

    with caplog.at_level(logging.WARNING):
        await poller(utcnow())

    assert imap_sim.logins == 0 and len(imap_sim.unseen()) == 1
    assert await stored_rows(db) == before
    assert "AUTHENTICATIONFAILED" in caplog.text
    assert "wrongIMAPsecret42" not in caplog.text


async def test_the_scheduler_leader_polls_the_mailbox(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim, imap_sim: ImapSim
) -> None:
    await seed(db)
    mailroom = await start(
        make_client,
        db,
        **email_settings(sendgrid_sim),
        **imap_settings(imap_sim, IMAP_POLL_SECONDS=1),
        SWITCHBOARD_SCHEDULER=True,
        SWITCHBOARD_SCHEDULER_POLL_INTERVAL=0.1,
    )
    assert mailroom.gateway.imap is not None
    imap_sim.add(
        simple_email(
            sender=CUSTOMER,
            to=INBOX,
            subject="Hello",
            text="Is anyone there?",
            message_id="<leader-1@mail.example>",
        )
    )

    await wait_until(lambda: not imap_sim.unseen(), timeout=10)

    async with db.session() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(EmailRecord)
            .where(EmailRecord.message_id == "<leader-1@mail.example>")
        )
    assert count == 1
    assert [t.external_id for t in await _email_tasks(db)] == ["<leader-1@mail.example>"]


async def test_a_members_address_counts_only_with_the_servers_own_authentication_results(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim, imap_sim: ImapSim
) -> None:
    """No provider vouches for a fetched message: only the topmost Authentication-Results
    (the mailbox server's) is believed; one the sender wrote below it proves nothing."""
    await seed(db)
    mailroom, poller = await _poller(make_client, db, sendgrid_sim, imap_sim)
    forged_pass = "mx.demo.example; dkim=pass header.d=demo.example; spf=pass"
    server_fail = "mx.demo.example; spf=fail smtp.mailfrom=evil.example; dkim=none"
    server_pass = (
        "mx.demo.example; spf=pass smtp.mailfrom=demo.example; dkim=pass header.d=demo.example"
    )

    def member_email(number: int, *results: str) -> bytes:
        raw = simple_email(
            sender=OLIVIA,
            to=INBOX,
            subject="urgent",
            text="how is our resolution rate this week?",
            message_id=f"<member-{number}@mail.example>",
        )
        head = b"".join(f"Authentication-Results: {r}\r\n".encode() for r in results)
        return head + raw

    imap_sim.add(member_email(1))  # no results at all
    imap_sim.add(member_email(2, server_fail, forged_pass))  # the sender's own claim, below
    assert await poller.poll() == 2
    await mailroom.settled()
    assert await _email_tasks(db) == []
    async with db.session() as session:
        flagged = list(await session.scalars(select(EmailRecord.flagged)))
    assert flagged == [True, True]

    imap_sim.add(member_email(3, server_pass))
    assert await poller.poll() == 1
    await mailroom.settled()
    assert [t.external_id for t in await _email_tasks(db)] == ["<member-3@mail.example>"]
