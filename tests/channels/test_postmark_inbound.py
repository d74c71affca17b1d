"""Postmark's inbound webhook (`POST /email/inbound/postmark`): the same emails as the SendGrid
tests, posted as Postmark posts them, reach the same rules — a customer's email is answered by
the AI desk in its thread, a reply to an assist threads into it, a redelivery makes nothing new,
and a refused post stores nothing."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from sqlalchemy import func, select, update

from channels.email.inbound import InboundEmail, parse_form, parse_inbound
from channels.email.postmark_inbound import parse_postmark
from core.assists.email_identity import identity_from
from core.assists.mail import send_assist_email
from storage.db import Database
from storage.domain import Assist, AssistEvent
from storage.email import EmailRecord
from storage.models import MediaObject, Member, TaskRow
from tests.channels.email_helpers import INBOX, Mailroom, email_settings, seed, start, stored_rows
from tests.channels.email_payloads import DATA, basic_auth, eml, inbound_parse, simple_email
from tests.channels.postmark_payloads import body_of, postmark_payload
from tests.sims.sendgrid import SendGridSim

ROUTE = "/email/inbound/postmark"
CUSTOMER = "jane.roe@mail.example"
OLIVIA = "olivia@demo.example"  # the seeded workspace's owner


async def _post(
    mailroom: Mailroom, body: bytes, auth: dict[str, str] | None = None
) -> tuple[int, Any]:
    response = await mailroom.client.post(
        ROUTE,
        data=body,
        headers={"Content-Type": "application/json", **(basic_auth() if auth is None else auth)},
    )
    try:
        answer: Any = await response.json()
    except ValueError:
        answer = await response.text()
    return response.status, answer


async def _deliver(mailroom: Mailroom, payload: dict[str, Any]) -> dict[str, Any]:
    status, answer = await _post(mailroom, body_of(payload))
    assert status == 200, answer
    assert isinstance(answer, dict)
    return answer


def _to(mail: dict[str, Any]) -> str:
    return str(mail["personalizations"][0]["to"][0]["email"])


def _headers(mail: dict[str, Any]) -> dict[str, str]:
    return dict(mail.get("headers") or {})


def _text(mail: dict[str, Any]) -> str:
    return next(c["value"] for c in mail["content"] if c["type"] == "text/plain")


async def _assists(db: Database) -> dict[int, Assist]:
    async with db.session() as session:
        return {a.number: a for a in await session.scalars(select(Assist))}


def _seen(mail: InboundEmail) -> tuple[Any, ...]:
    """What the routing and the assist see of an email."""
    return (
        mail.from_address,
        mail.from_name,
        mail.subject,
        mail.text,
        mail.reply_text,
        mail.message_id,
        mail.in_reply_to,
        mail.references,
        mail.to,
        mail.cc,
        mail.recipients,
        mail.external_id,
        mail.thread_key,
        mail.auto_submitted,
        [(a.filename, a.content_type, a.data) for a in mail.attachments],
    )


GMAIL = ("gmail_reply.eml", "Customer 4", "utf-8")
OUTLOOK = ("outlook_reply_windows1252.eml", "Jürgen Müller", "windows-1252")
JAPANESE = ("japanese_reply_shift_jis.eml", "山田太郎", "shift_jis")


@pytest.mark.parametrize(("fixture", "name", "charset"), [GMAIL, OUTLOOK, JAPANESE])
def test_postmark_json_reads_as_the_same_email_as_inbound_parse(
    fixture: str, name: str, charset: str
) -> None:
    raw = eml(
        fixture,
        sender=CUSTOMER,
        sender_name=name,
        charset=charset,
        to=INBOX,
        subject="Re: [A-1042] Your refund",
        message_id="<reply-1@mail.example>",
        in_reply_to="<sent-1@demo.example>",
        references=["<root-1@demo.example>", "<sent-1@demo.example>"],
    )
    sendgrid = inbound_parse(raw, envelope_to=[INBOX])
    via_sendgrid = parse_inbound(parse_form(sendgrid.content_type, sendgrid.body))
    via_postmark = parse_postmark(body_of(postmark_payload(raw, original_recipient=INBOX)))

    assert _seen(via_postmark) == _seen(via_sendgrid)
    assert via_postmark.message_id == "<reply-1@mail.example>"
    assert via_postmark.thread_ids == ["<sent-1@demo.example>", "<root-1@demo.example>"]
    assert via_postmark.spf == "pass"


async def test_a_customers_email_reaches_the_ai_desk_as_through_sendgrid(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim
) -> None:
    """The escalation conversation of test_escalation_channels, over Postmark: the AI desk
    answers in the customer's thread, the confirmation opens one assist, and the customer's
    answer to the team threads into it."""
    await seed(db)
    async with db.session() as session:  # nobody available: the assist waits unassigned
        await session.execute(update(Member).values(availability="offline"))
    mailroom = await start(make_client, db, **email_settings(sendgrid_sim))
    before = set(await _assists(db))
    first = simple_email(
        sender=f"Jane Roe <{CUSTOMER}>",
        to=INBOX,
        subject="Refund for order #48213",
        text="I still have no refund for order #48213, I asked again last week.\n"
        "Please let me talk to a real person.",
        message_id="<jane-1@mail.example>",
    )

    accepted = await _deliver(mailroom, postmark_payload(first, original_recipient=INBOX))
    assert (accepted["status"], accepted["duplicate"]) == ("accepted", False)
    await sendgrid_sim.wait_for(1)
    (offer,) = sendgrid_sim.mails()
    assert _to(offer) == CUSTOMER
    assert "Name: Jane Roe\nEmail: jane.roe@mail.example" in _text(offer)
    assert _headers(offer)["In-Reply-To"] == "<jane-1@mail.example>"
    async with db.session() as session:
        task = await session.get(TaskRow, accepted["task_id"])
        record = await session.scalar(
            select(EmailRecord).where(EmailRecord.message_id == "<jane-1@mail.example>")
        )
    assert task is not None and (task.channel, task.kind, task.external_id) == (
        "email",
        "message",
        "<jane-1@mail.example>",
    )
    assert (task.sender_address, task.sender_name) == (CUSTOMER, "Jane Roe")
    assert record is not None and record.direction == "in"

    answer = simple_email(
        sender=f"Jane Roe <{CUSTOMER}>",
        to=INBOX,
        subject="Re: Refund for order #48213",
        text="Yes, that's right.\n\nOn Tue, Demo Co Support wrote:\n> Please check your details",
        message_id="<jane-2@mail.example>",
        in_reply_to=_headers(offer)["Message-ID"],
        references=["<jane-1@mail.example>", _headers(offer)["Message-ID"]],
    )
    await _deliver(mailroom, postmark_payload(answer, original_recipient=INBOX))
    await mailroom.settled()
    (assist,) = [a for n, a in (await _assists(db)).items() if n not in before]
    assert assist.customer_details["email"] == CUSTOMER
    assert assist.customer_details["order_number"] == "#48213"
    (confirmation,) = [
        m for m in sendgrid_sim.mails() if _to(m) == CUSTOMER and assist.ref in m["subject"]
    ]
    assert _headers(confirmation)["In-Reply-To"] == "<jane-2@mail.example>"


async def test_a_reply_to_an_assist_email_threads_into_the_assist_once(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim
) -> None:
    """The team emails A-1042's customer; the customer answers to the general inbox with the
    PDF attached, so only In-Reply-To / References tie it to the assist. Postmark posts it
    twice (it retries what it thinks failed): one event, one task, one notice round."""
    await seed(db)
    mailroom = await start(make_client, db, **email_settings(sendgrid_sim))
    identity = identity_from(mailroom.gateway.settings)
    async with db.session() as session:
        assist = await session.scalar(select(Assist).where(Assist.number == 1042))
        assert assist is not None
        customer = str(assist.customer_details["email"])
        sent = await send_assist_email(session, identity, assist, to=customer, text="Refunded.")
    assert mailroom.gateway.outbox is not None
    mailroom.gateway.outbox.wake()
    await sendgrid_sim.wait_for(1)

    raw = eml(
        "outlook_reply_windows1252.eml",
        sender=customer,
        sender_name="Jürgen Müller",
        charset="windows-1252",
        to=INBOX,
        subject="AW: [A-1042] Ihre Rückerstattung",
        message_id="<AM0PR07MB6273A1B2C3D4E5F6@AM0PR07MB6273.eurprd07.prod.outlook.com>",
        in_reply_to=sent.message_id,
        references=[sent.message_id],
    )
    payload = postmark_payload(raw, original_recipient=INBOX)
    answer = await _deliver(mailroom, payload)
    await mailroom.settled()
    mails_after_first = len(sendgrid_sim.mails())
    again = await _deliver(mailroom, payload)
    await mailroom.settled()

    assert answer == {
        "status": "threaded",
        "assist": "A-1042",
        "matched_by": "references",
        "flagged": False,
        "duplicate": False,
    }
    assert again["duplicate"] is True
    async with db.session() as session:
        events = list(
            await session.scalars(
                select(AssistEvent).where(
                    AssistEvent.assist_id == assist.id, AssistEvent.kind == "customer_reply"
                )
            )
        )
        records = list(
            await session.scalars(
                select(EmailRecord).where(
                    EmailRecord.assist_id == assist.id, EmailRecord.direction == "in"
                )
            )
        )
        tasks = list(await session.scalars(select(TaskRow).where(TaskRow.channel == "email")))
        media = await session.get(MediaObject, records[0].attachments[0]["media_id"])
    assert [e.body for e in events] == [
        "Hallo,\n\ndie Rückerstattung ist leider noch nicht angekommen. Anbei der Kontoauszug "
        "\u2013 bitte prüfen Sie das noch einmal.\n\nAttachments: Kontoauszug.pdf"
    ]
    assert len(records) == 1 and [(t.kind, t.status) for t in tasks] == [("email_reply", "done")]
    assert media is not None and media.data == (DATA / "kontoauszug.pdf").read_bytes()
    assert len(sendgrid_sim.mails()) == mails_after_first  # the team is not told twice


async def test_a_redelivered_customer_email_makes_nothing_new(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim
) -> None:
    await seed(db)
    mailroom = await start(make_client, db, **email_settings(sendgrid_sim))
    raw = simple_email(
        sender=CUSTOMER,
        to=INBOX,
        subject="Where is my parcel?",
        text="My order #5521 has not arrived yet.",
        message_id="<parcel-1@mail.example>",
    )
    payload = postmark_payload(raw, original_recipient=INBOX)
    first = await _deliver(mailroom, payload)
    await sendgrid_sim.wait_for(1)
    await mailroom.settled()
    after_first = await stored_rows(db)

    # Postmark retries with the same body; a second copy (another Postmark id) is the same email.
    again = await _deliver(mailroom, payload)
    copy = await _deliver(mailroom, {**payload, "MessageID": "another-postmark-id"})
    await mailroom.settled()

    assert first["duplicate"] is False
    assert again == {"status": "accepted", "task_id": first["task_id"], "duplicate": True}
    assert copy["task_id"] == first["task_id"] and copy["duplicate"] is True
    assert await stored_rows(db) == after_first
    assert len(sendgrid_sim.mails()) == 1  # answered once


async def test_without_a_message_id_a_redelivery_is_known_by_postmarks_id(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim
) -> None:
    await seed(db)
    mailroom = await start(make_client, db, **email_settings(sendgrid_sim))
    raw = simple_email(
        sender=CUSTOMER,
        to=INBOX,
        subject="Hello",
        text="Is anyone there?",
        message_id="<dropped@mail.example>",
    )
    payload = postmark_payload(raw, original_recipient=INBOX, postmark_id="a8c1040e-db1c")
    payload["Headers"] = [h for h in payload["Headers"] if h["Name"].lower() != "message-id"]

    first = await _deliver(mailroom, payload)
    again = await _deliver(mailroom, payload)

    assert again == {"status": "accepted", "task_id": first["task_id"], "duplicate": True}
    async with db.session() as session:
        task = await session.get(TaskRow, first["task_id"])
    assert task is not None and task.external_id == "<a8c1040e-db1c@inbound.postmarkapp.com>"


async def test_a_members_address_counts_only_with_postmarks_own_spf(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim
) -> None:
    """Postmark's Received-SPF (aligned on its envelope-from) vouches for the sender; an
    Authentication-Results the sender wrote into the email proves nothing."""
    await seed(db)
    mailroom = await start(make_client, db, **email_settings(sendgrid_sim))

    def member_email(number: int) -> bytes:
        return simple_email(
            sender=OLIVIA,
            to=INBOX,
            subject="Rate",
            text="how is our resolution rate this week?",
            message_id=f"<member-pm-{number}@mail.example>",
            extra_headers={
                "Authentication-Results": "mx.demo.example; dkim=pass header.d=demo.example"
            },
        )

    forged = postmark_payload(
        member_email(1), original_recipient=INBOX, envelope_from="bounce@evil.example"
    )
    failed = postmark_payload(member_email(2), original_recipient=INBOX, spf="Fail")
    for payload in (forged, failed):
        assert (await _deliver(mailroom, payload))["status"] == "kept"
    await mailroom.settled()
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(TaskRow)) == 0

    genuine = postmark_payload(member_email(3), original_recipient=INBOX)
    assert (await _deliver(mailroom, genuine))["status"] == "accepted"


async def test_bad_auth_is_refused_and_nothing_stored(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim
) -> None:
    await seed(db)
    mailroom = await start(make_client, db, **email_settings(sendgrid_sim))
    raw = simple_email(
        sender=CUSTOMER,
        to=INBOX,
        subject="Hi",
        text="Hello there",
        message_id="<auth-pm-1@mail.example>",
    )
    body = body_of(postmark_payload(raw, original_recipient=INBOX))
    before = await stored_rows(db)

    for auth in (
        {},
        basic_auth(password="wrong-password"),
        basic_auth(user="someone-else"),
        {"Authorization": "Bearer " + base64.b64encode(b"parse:x").decode()},
        {"Authorization": "Basic !!!not-base64!!!"},
    ):
        status, answer = await _post(mailroom, body, auth)
        assert status == 401, answer

    assert await stored_rows(db) == before
    status, answer = await _post(mailroom, body)  # the right credentials work
    assert (status, answer["status"]) == (200, "accepted")


async def test_without_inbound_credentials_the_route_is_off(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim
) -> None:
    await seed(db)
    mailroom = await start(
        make_client, db, **email_settings(sendgrid_sim, EMAIL_INBOUND_PASSWORD=None)
    )
    before = await stored_rows(db)
    status, answer = await _post(mailroom, b"{}")
    assert status == 404 and "EMAIL_INBOUND_PASSWORD" in answer["message"]
    assert await stored_rows(db) == before


def _valid() -> dict[str, Any]:
    raw = simple_email(
        sender=CUSTOMER, to=INBOX, subject="Hi", text="Hello", message_id="<m-1@mail.example>"
    )
    return postmark_payload(raw, original_recipient=INBOX)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe{}", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b"{}", "no usable From address"),
        (body_of({**_valid(), "From": "", "FromFull": {}}), "no usable From address"),
        (body_of({**_valid(), "Subject": 7}), "Subject must be a string"),
        (body_of({**_valid(), "Headers": {"Message-ID": "<x@y>"}}), "Headers must be a list"),
        (body_of({**_valid(), "Headers": [{"Name": "X"}]}), "a Name and a Value"),
        (body_of({**_valid(), "ToFull": ["someone"]}), "ToFull must hold"),
        (
            body_of({**_valid(), "Attachments": [{"Name": "a.pdf", "Content": "%%%"}]}),
            "not valid base64",
        ),
        (body_of({**_valid(), "Attachments": "a.pdf"}), "Attachments must be a list"),
    ],
    ids=[
        "broken",
        "not-utf8",
        "array",
        "empty",
        "no-from",
        "subject-type",
        "headers-object",
        "header-no-value",
        "tofull-strings",
        "bad-base64",
        "attachments-string",
    ],
)
async def test_malformed_posts_get_400_and_nothing_stored(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim, body: bytes, says: str
) -> None:
    await seed(db)
    mailroom = await start(make_client, db, **email_settings(sendgrid_sim))
    before = await stored_rows(db)

    status, answer = await _post(mailroom, body)

    assert status == 400, answer
    assert says in answer["message"]
    assert await stored_rows(db) == before
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(EmailRecord)) == 0
