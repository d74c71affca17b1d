"""Email: Inbound Parse posts built as SendGrid builds them from real-format Gmail and Outlook
replies, the whole gateway, and replies through the real `sendgrid` SDK into its simulator."""

from __future__ import annotations

import base64
import io
import re
from typing import Any

import pytest
from sqlalchemy import select

from core.assists.email_identity import identity_from
from core.assists.mail import send_assist_email
from models.email_threads import token_of
from storage.db import Database
from storage.domain import Assist, AssistEvent, Proposal
from storage.email import EmailRecord
from storage.models import MediaObject, Member, OutboxRow, TaskRow
from tests.channels.email_helpers import (
    INBOUND_DOMAIN,
    INBOX,
    SUPPORT,
    Mailroom,
    email_settings,
    seed,
    start,
    stored_rows,
)
from tests.channels.email_payloads import (
    DATA,
    basic_auth,
    eml,
    form,
    inbound_parse,
    simple_email,
)
from tests.factories import bearer_for, make_workspace
from tests.helpers import wait_until
from tests.sims.sendgrid import SendGridSim

JAPANESE_REPLY = (
    "ありがとうございます。まだ荷物が届いていません。追跡番号を教えていただけますか\uff1f"
)
MARIA = "maria@demo.example"  # manager in the seeded workspace
OLIVIA = "olivia@demo.example"  # owner


async def _gateway(
    make_client: Any, db: Database, sendgrid_sim: SendGridSim, **extra: Any
) -> Mailroom:
    return await start(make_client, db, **email_settings(sendgrid_sim, **extra))


async def _assist(db: Database, number: int) -> Assist:
    async with db.session() as session:
        assist = await session.scalar(select(Assist).where(Assist.number == number))
        assert assist is not None
        return assist


async def _member_id(db: Database, email: str) -> str:
    async with db.session() as session:
        found = await session.scalar(select(Member.id).where(Member.email == email))
        assert found is not None
        return found


async def _events(db: Database, assist_id: str) -> list[AssistEvent]:
    async with db.session() as session:
        rows = await session.scalars(
            select(AssistEvent)
            .where(AssistEvent.assist_id == assist_id, AssistEvent.kind == "customer_reply")
            .order_by(AssistEvent.created_at)
        )
        return list(rows)


async def _email_team(mailroom: Mailroom, number: int, text: str) -> EmailRecord:
    """The team answers the customer of assist NUMBER by email (as the AI Inbox will)."""
    identity = identity_from(mailroom.gateway.settings)
    async with mailroom.db.session() as session:
        assist = await session.scalar(select(Assist).where(Assist.number == number))
        assert assist is not None
        to = str(assist.customer_details["email"])
        record = await send_assist_email(session, identity, assist, to=to, text=text)
    assert mailroom.gateway.outbox is not None
    mailroom.gateway.outbox.wake()
    return record


def _headers(mail: dict[str, Any]) -> dict[str, str]:
    return dict(mail.get("headers") or {})


def _content(mail: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["value"] for c in mail["content"]}


# ---------------------------------------------------------------------------- refusals


async def test_bad_basic_auth_is_refused_and_nothing_stored(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim
) -> None:
    await seed(db)
    mailroom = await _gateway(make_client, db, sendgrid_sim)
    raw = simple_email(
        sender=MARIA,
        to=INBOX,
        subject="Rate",
        text="how is our resolution rate this week?",
        message_id="<auth-1@mail.example>",
    )
    post = inbound_parse(raw, envelope_to=[INBOX])
    before = await stored_rows(db)

    for auth in (
        {},
        basic_auth(password="wrong-password"),
        basic_auth(user="someone-else"),
        {"Authorization": "Bearer " + base64.b64encode(b"parse:x").decode()},
        {"Authorization": "Basic !!!not-base64!!!"},
    ):
        status, (body, headers) = await mailroom.post(post, auth=auth)
        assert status == 401, body
        assert headers["WWW-Authenticate"].startswith("Basic realm=")

    assert await stored_rows(db) == before
    assert (await mailroom.deliver(post))["status"] == "accepted"  # the right password works


async def test_an_oversized_body_is_refused_with_413_and_nothing_stored(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim
) -> None:
    await seed(db)
    mailroom = await _gateway(make_client, db, sendgrid_sim)
    raw = simple_email(
        sender=MARIA,
        to=INBOX,
        subject="Big",
        text="see attached",
        message_id="<big-1@mail.example>",
    )
    small = inbound_parse(raw, envelope_to=[INBOX])
    huge = (
        small.body.replace(b"--xYzZY--", b"", 1) + b"x" * (31 * 1024 * 1024) + b"\r\n--xYzZY--\r\n"
    )
    before = await stored_rows(db)

    # Declared too large: refused before reading.
    response = await mailroom.client.post(
        "/email/inbound", data=io.BytesIO(huge), headers=small.headers()
    )
    assert response.status == 413
    assert "30 MB" in (await response.json())["message"]

    # With Expect: 100-continue (curl's habit for large bodies), refused before it is sent.
    response = await mailroom.client.post(
        "/email/inbound", data=io.BytesIO(huge), headers=small.headers(), expect100=True
    )
    assert response.status == 413
    response = await mailroom.client.post(
        "/email/inbound",
        data=io.BytesIO(small.body),
        headers=small.headers(basic_auth(password="wrong")),
        expect100=True,
    )
    assert response.status == 401 and "WWW-Authenticate" in response.headers

    # Sent chunked, without a length: refused once 30 MB have been read.
    async def chunks() -> Any:
        for start_at in range(0, len(huge), 1024 * 1024):
            yield huge[start_at : start_at + 1024 * 1024]

    response = await mailroom.client.post("/email/inbound", data=chunks(), headers=small.headers())
    assert response.status == 413
    assert await stored_rows(db) == before

    # Over the gateway's 1 MB default but under 30 MB: accepted on this route.
    roomy = inbound_parse(
        simple_email(
            sender=MARIA,
            to=INBOX,
            subject="Roomy",
            text="how is our resolution rate this week?\n" + "padding line\n" * 150_000,
            message_id="<roomy-1@mail.example>",
        ),
        envelope_to=[INBOX],
    )
    assert len(roomy.body) > 1024 * 1024
    assert (await mailroom.deliver(roomy))["status"] == "accepted"


@pytest.mark.parametrize(
    ("content_type", "body", "says"),
    [
        ("application/json", b'{"from": "a@b.example"}', "multipart/form-data"),
        ("multipart/form-data", b"--x\r\n\r\n--x--", "boundary"),
        ("multipart/form-data; boundary=xYzZY", b"garbage without any part", "could not be read"),
        ("multipart/form-data; boundary=xYzZY", form([("text", b"hello")]).body, "neither"),
        (
            "multipart/form-data; boundary=xYzZY",
            form([("from", b"not an address"), ("headers", b"Subject: x\r\n")]).body,
            "From",
        ),
        (
            "multipart/form-data; boundary=xYzZY",
            form([("from", b"a@b.example"), ("envelope", b"{not json")]).body,
            "envelope",
        ),
        (
            "multipart/form-data; boundary=xYzZY",
            form([("from", b"a@b.example"), ("envelope", b'{"to": 5}')]).body,
            "envelope.to",
        ),
    ],
)
async def test_malformed_posts_get_400_and_nothing_stored(
    db: Database,
    make_client: Any,
    sendgrid_sim: SendGridSim,
    content_type: str,
    body: bytes,
    says: str,
) -> None:
    await seed(db)
    mailroom = await _gateway(make_client, db, sendgrid_sim)
    before = await stored_rows(db)

    response = await mailroom.client.post(
        "/email/inbound", data=body, headers={"Content-Type": content_type, **basic_auth()}
    )

    assert response.status == 400
    assert says in (await response.json())["message"]
    assert await stored_rows(db) == before


# ---------------------------------------------------------------------------- threading


async def test_gmail_reply_threads_by_its_reply_token(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim
) -> None:
    """A-1043 is pending and assigned to Maria; the customer answers the team's email."""
    await seed(db)
    mailroom = await _gateway(make_client, db, sendgrid_sim)
    sent = await _email_team(mailroom, 1043, "Hi, we have refunded order #5521.")
    await sendgrid_sim.wait_for(1)
    first = sendgrid_sim.mails()[0]
    reply_to = first["reply_to"]["email"]
    token = token_of(reply_to, INBOUND_DOMAIN)
    assert token is not None
    assist = await _assist(db, 1043)
    customer = str(assist.customer_details["email"])
    assert sendgrid_sim.recipients() == [customer]
    assert first["subject"].startswith("[A-1043] ")
    assert _headers(first)["Message-ID"] == sent.message_id
    async with db.session() as session:
        stored = await session.get(EmailRecord, sent.id)
        assert stored is not None and stored.reply_token_hash != token  # only a hash is kept

    raw = eml(
        "gmail_reply.eml",
        sender=customer,
        sender_name="Customer 4",
        to=reply_to,
        subject=f"Re: {first['subject']}",
        message_id="<CAJ4xk8Qh_2vR1Lq9W=pX3o7bN0yTzF5uE6sD2cA1gH8kJ9mL@mail.gmail.com>",
    )  # no In-Reply-To, no References: only the address ties it to the assist
    post = inbound_parse(raw, envelope_to=[reply_to])
    answer = await mailroom.deliver(post)
    again = await mailroom.deliver(post)  # SendGrid redelivers

    assert answer == {
        "status": "threaded",
        "assist": "A-1043",
        "matched_by": "token",
        "flagged": False,
        "duplicate": False,
    }
    assert again["duplicate"] is True
    events = await _events(db, assist.id)
    assert [e.body for e in events] == [
        "Thanks, that fixed it! The refund shows on my card now \u2014 one more thing: could you "
        "send the invoice for order #5521 as well?"
    ]
    assert events[0].author == customer and not events[0].flagged
    assist = await _assist(db, 1043)
    assert (assist.status, assist.unread) == ("open", True)
    # The assignee (Maria) hears of it, by email, once.
    await sendgrid_sim.wait_for(2)
    await mailroom.settled()
    notice = sendgrid_sim.mails()[1]
    assert sendgrid_sim.recipients() == [customer, MARIA]
    assert notice["subject"] == "[A-1043] New reply from Customer 4"
    assert "one more thing" in _content(notice)["text/plain"]
    assert "pending and is open again" in _content(notice)["text/plain"]
    assert "console (https://gw.example/console/assists/A-1043)" in _content(notice)["text/plain"]
    async with db.session() as session:
        tasks = list(await session.scalars(select(TaskRow).where(TaskRow.channel == "email")))
    assert [(t.kind, t.status, t.raw["matched_by"]) for t in tasks] == [
        ("email_reply", "done", "token")
    ]


async def test_outlook_reply_threads_by_references_with_its_attachment(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim
) -> None:
    """Windows-1252, quoted-printable, Outlook's "Von: / Gesendet:" block and a PDF; sent to
    the general inbox, so only In-Reply-To / References tie it to A-1042 (nobody assigned)."""
    await seed(db)
    mailroom = await _gateway(make_client, db, sendgrid_sim)
    sent = await _email_team(mailroom, 1042, "Hallo, wir haben die Rückerstattung veranlasst.")
    await sendgrid_sim.wait_for(1)
    assist = await _assist(db, 1042)
    customer = str(assist.customer_details["email"])

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
    answer = await mailroom.deliver(inbound_parse(raw, envelope_to=[INBOX]))

    assert (answer["matched_by"], answer["flagged"]) == ("references", False)
    events = await _events(db, assist.id)
    assert events[0].body == (
        "Hallo,\n\ndie Rückerstattung ist leider noch nicht angekommen. Anbei der Kontoauszug "
        "\u2013 bitte prüfen Sie das noch einmal.\n\nAttachments: Kontoauszug.pdf"
    )
    async with db.session() as session:
        record = await session.scalar(
            select(EmailRecord).where(
                EmailRecord.assist_id == assist.id, EmailRecord.direction == "in"
            )
        )
        assert record is not None
        media = await session.get(MediaObject, record.attachments[0]["media_id"])
        task = await session.scalar(select(TaskRow).where(TaskRow.kind == "email_reply"))
    assert media is not None and media.data == (DATA / "kontoauszug.pdf").read_bytes()
    assert media.content_type == "application/pdf"
    assert "Von: Acme Support" in record.text  # the whole email is kept, quote and all
    assert task is not None and task.attachments[0]["name"] == "Kontoauszug.pdf"
    assert task.attachments[0]["url"].startswith("https://gw.example/media/")
    # Nobody is assigned: the team (owners, admins, managers and support) is told.
    await mailroom.settled()
    told = sorted(sendgrid_sim.recipients()[1:])
    assert told == ["adam@demo.example", MARIA, OLIVIA, "sam@demo.example", "tom@demo.example"]


async def test_shift_jis_reply_threads_by_subject_tag_only_from_the_customer(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim
) -> None:
    """Raw mode, an 8-bit Shift_JIS body: no reply address, no thread headers; the `[A-1041]`
    tag counts from the assist's customer, and from nobody else."""
    await seed(db)
    mailroom = await _gateway(make_client, db, sendgrid_sim)
    assist = await _assist(db, 1041)
    customer = str(assist.customer_details["email"])

    def japanese(sender: str, message_id: str) -> bytes:
        return eml(
            "japanese_reply_shift_jis.eml",
            sender=sender,
            sender_name="山田太郎",
            charset="shift_jis",
            to=INBOX,
            subject="Re: [A-1041] 配送について",
            message_id=message_id,
        )

    answer = await mailroom.deliver(
        inbound_parse(japanese(customer, "<jp-1@mail.example.jp>"), envelope_to=[INBOX], raw=True)
    )
    stranger = await mailroom.deliver(
        inbound_parse(
            japanese("someone@elsewhere.example", "<jp-2@elsewhere.example>"),
            envelope_to=[INBOX],
            raw=True,
        )
    )

    assert (answer["status"], answer["matched_by"]) == ("threaded", "subject")
    events = await _events(db, assist.id)
    assert [e.body for e in events] == [JAPANESE_REPLY]
    # The stranger is a customer writing in: the AI agent answers, never threaded into A-1041.
    assert stranger["status"] == "accepted"
    await mailroom.settled()
    ack = [
        m
        for m in sendgrid_sim.mails()
        if m["personalizations"][0]["to"][0]["email"].startswith("someone")
    ]
    assert len(ack) == 1
    # It cannot answer from its training data: it offers the team, asking to confirm the
    # details the email gave (the sender's name and address).
    offer = _content(ack[0])["text/plain"]
    assert "Name: 山田太郎\nEmail: someone@elsewhere.example" in offer and "CONFIRM" in offer
    assert ack[0]["subject"] == "Re: [A-1041] 配送について"
    assert _headers(ack[0])["In-Reply-To"] == "<jp-2@elsewhere.example>"


async def test_a_reply_from_someone_else_is_kept_but_flagged(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim
) -> None:
    await seed(db)
    mailroom = await _gateway(make_client, db, sendgrid_sim)
    await _email_team(mailroom, 1043, "We are looking into it.")
    await sendgrid_sim.wait_for(1)
    reply_to = sendgrid_sim.mails()[0]["reply_to"]["email"]
    assist = await _assist(db, 1043)
    customer = str(assist.customer_details["email"])

    spoofed = eml(
        "gmail_reply.eml",
        sender="attacker@evil.example",
        sender_name="Customer 4",
        to=reply_to,
        subject="Re: [A-1043] refund",
        message_id="<spoof-1@evil.example>",
    )
    failed_auth = eml(
        "gmail_reply.eml",
        sender=customer,
        sender_name="Customer 4",
        to=reply_to,
        subject="Re: [A-1043] refund",
        message_id="<spoof-2@evil.example>",
    )
    first = await mailroom.deliver(inbound_parse(spoofed, envelope_to=[reply_to]))
    second = await mailroom.deliver(
        inbound_parse(
            failed_auth,
            envelope_to=[reply_to],
            spf="fail",
            dkim="none",
            envelope_from="bounce@evil.example",
        )
    )

    assert (first["flagged"], second["flagged"]) == (True, True)
    events = await _events(db, assist.id)
    assert [e.flagged for e in events] == [True, True]
    assert [e.author for e in events] == ["attacker@evil.example", customer]
    assist = await _assist(db, 1043)
    assert (assist.status, assist.unread) == ("pending", True)  # kept, visible, not acted on
    async with db.session() as session:
        reasons = list(
            await session.scalars(
                select(EmailRecord.flag_reason)
                .where(EmailRecord.direction == "in")
                .order_by(EmailRecord.created_at)
            )
        )
    assert "not the assist's customer" in str(reasons[0])
    assert "failed SPF and DKIM" in str(reasons[1])
    await mailroom.settled()
    assert len(sendgrid_sim.mails()) == 1  # nobody was notified


# ---------------------------------------------------------------------------- requests


async def test_a_managers_emailed_request_is_answered_in_the_same_thread(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim
) -> None:
    await seed(db)
    mailroom = await _gateway(make_client, db, sendgrid_sim)
    raw = simple_email(
        sender="Maria Lopez <maria@demo.example>",
        to=INBOX,
        subject="Urgent ones",
        text="show me the urgent assists\n\nThanks,\nMaria\n\n-- \nMaria Lopez | Demo Co",
        message_id="<maria-1@demo.example>",
        in_reply_to="<earlier@demo.example>",
        references=["<root@demo.example>", "<earlier@demo.example>"],
    )

    post = inbound_parse(raw, envelope_to=[INBOX], dkim="{@demo.example : pass}")
    answer = await mailroom.deliver(post)
    again = await mailroom.deliver(post)  # SendGrid redelivers: still one task, one reply
    await sendgrid_sim.wait_for(1, timeout=15)
    await mailroom.settled()

    assert (answer["status"], again["duplicate"]) == ("accepted", True)
    assert again["task_id"] == answer["task_id"]
    mail = sendgrid_sim.mails()[0]
    assert sendgrid_sim.recipients() == [MARIA]
    assert mail["from"] == {"email": SUPPORT, "name": "Demo Co Support"}
    assert mail["subject"] == "Re: Urgent ones"
    headers = _headers(mail)
    assert headers["In-Reply-To"] == "<maria-1@demo.example>"
    assert headers["References"] == (
        "<root@demo.example> <earlier@demo.example> <maria-1@demo.example>"
    )
    assert headers["Message-ID"].endswith(f"@{INBOUND_DOMAIN}>")
    content = _content(mail)
    assert "A-1040" in content["text/plain"]  # the seeded urgent assist
    assert "<li>" in content["text/html"] and "A-1040" in content["text/html"]
    async with db.session() as session:
        task = await session.scalar(select(TaskRow).where(TaskRow.channel == "email"))
    assert task is not None
    assert task.text == "show me the urgent assists"  # the signature is cut
    assert task.conversation == "<root@demo.example>"
    assert (task.status, task.member_id) == ("done", (await _member_id(db, MARIA)))


async def test_a_metric_answer_carries_its_chart_inline(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim
) -> None:
    await seed(db)
    mailroom = await _gateway(make_client, db, sendgrid_sim)
    raw = simple_email(
        sender=OLIVIA,
        to=INBOX,
        subject="Rate",
        text="how is our resolution rate this week?",
        message_id="<olivia-rate@demo.example>",
    )

    await mailroom.deliver(inbound_parse(raw, envelope_to=[INBOX], dkim="{@demo.example : pass}"))
    await sendgrid_sim.wait_for(1, timeout=15)

    mail = sendgrid_sim.mails()[0]
    content = _content(mail)
    assert "Resolution rate" in content["text/plain"]
    assert "<table" in content["text/html"]
    chart = mail["attachments"][0]
    assert (chart["type"], chart["disposition"]) == ("image/png", "inline")
    assert f'src="cid:{chart["content_id"]}"' in content["text/html"]
    assert base64.b64decode(chart["content"]).startswith(b"\x89PNG")


async def test_a_write_is_proposed_by_email_and_approved_by_reply(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim
) -> None:
    await seed(db)
    mailroom = await _gateway(make_client, db, sendgrid_sim)
    ask = simple_email(
        sender=OLIVIA,
        to=INBOX,
        subject="A-1045",
        text="set A-1045 to urgent",
        message_id="<olivia-1@demo.example>",
    )
    await mailroom.deliver(inbound_parse(ask, envelope_to=[INBOX], dkim="{@demo.example : pass}"))
    await sendgrid_sim.wait_for(1, timeout=15)
    proposal_mail = sendgrid_sim.mails()[0]
    async with db.session() as session:
        proposal = await session.scalar(select(Proposal))
    assert proposal is not None
    text, html = _content(proposal_mail)["text/plain"], _content(proposal_mail)["text/html"]
    assert f'Reply "approve {proposal.code}"' in text
    assert f"<b>approve {proposal.code}</b>" in html
    assert "<th" in html and "urgent" in html  # the change, current and proposed

    reply = simple_email(
        sender=OLIVIA,
        to=INBOX,
        subject=f"Re: {proposal_mail['subject']}",
        text=(
            f"approve {proposal.code}\n\nOn Tue, Mar 12, 2024 at 9:15 AM Demo Co Support "
            f"<support@demo.example> wrote:\n> {text.splitlines()[0]}\n"
        ),
        message_id="<olivia-2@demo.example>",
        in_reply_to=_headers(proposal_mail)["Message-ID"],
        references=["<olivia-1@demo.example>", _headers(proposal_mail)["Message-ID"]],
    )
    await mailroom.deliver(inbound_parse(reply, envelope_to=[INBOX], dkim="{@demo.example : pass}"))
    await sendgrid_sim.wait_for(2, timeout=15)
    await mailroom.settled()

    assert (await _assist(db, 1045)).priority == "urgent"
    async with db.session() as session:
        task = await session.scalar(
            select(TaskRow).where(TaskRow.external_id == "<olivia-2@demo.example>")
        )
    assert task is not None and task.kind == "approval"
    done = sendgrid_sim.mails()[1]
    assert _headers(done)["In-Reply-To"] == "<olivia-2@demo.example>"


async def _say(mailroom: Mailroom, member: str, text: str) -> str:
    """MEMBER types TEXT in the web channel; returns the operator's reply."""
    auth = await bearer_for(mailroom.db, member)
    response = await mailroom.client.post(
        "/api/v1/messages", json={"member": member, "text": text}, headers=auth
    )
    assert response.status == 202, await response.text()
    task_id = (await response.json())["task_id"]

    async def answered() -> str | None:
        body = await (await mailroom.client.get(f"/api/v1/tasks/{task_id}", headers=auth)).json()
        done = body["status"] in ("done", "failed") and body["replies"]
        return "\n".join(r["text"] for r in body["replies"]) if done else None

    return await wait_until(answered, timeout=10)


async def test_a_reply_and_a_close_approved_in_chat_stay_in_the_assists_thread(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim
) -> None:
    """The operator's reply_to_assist and close_assist, approved by the owner, email the
    customer exactly as the AI Inbox does: in the assist's thread, with a reply address that
    routes the customer's answer back, and on closing the resolution with a CSAT survey."""
    await seed(db)
    mailroom = await _gateway(make_client, db, sendgrid_sim)
    earlier = await _email_team(mailroom, 1043, "Hi, we have refunded order #5521.")
    await sendgrid_sim.wait_for(1)
    assist = await _assist(db, 1043)
    customer = str(assist.customer_details["email"])

    proposed = await _say(mailroom, OLIVIA, "reply to A-1043: The invoice for 5521 is attached.")
    code = (await _pending(db)).code
    assert customer in proposed and code in proposed
    assert len(sendgrid_sim.mails()) == 1  # nothing sent before the approval
    await _say(mailroom, OLIVIA, f"approve {code}")
    await sendgrid_sim.wait_for(2)

    reply = sendgrid_sim.mails()[1]
    assert sendgrid_sim.recipients() == [customer, customer]
    assert "The invoice for 5521 is attached" in _content(reply)["text/plain"]
    assert reply["subject"] == "Re: [A-1043] Package marked delivered but missing"
    headers = _headers(reply)
    assert headers["In-Reply-To"] == earlier.message_id
    assert earlier.message_id in headers["References"]
    reply_to = reply["reply_to"]["email"]
    assert token_of(reply_to, INBOUND_DOMAIN) is not None
    async with db.session() as session:
        record = await session.scalar(
            select(EmailRecord).where(EmailRecord.message_id == headers["Message-ID"])
        )
    assert record is not None and record.assist_id == assist.id and record.direction == "out"

    # The customer answers that email (no thread headers): it lands in A-1043.
    raw = simple_email(
        sender=customer,
        to=reply_to,
        subject=f"Re: {reply['subject']}",
        text="Got it, thank you!",
        message_id="<customer-thanks@mail.example>",
    )
    answer = await mailroom.deliver(inbound_parse(raw, envelope_to=[reply_to]))
    assert (answer["assist"], answer["matched_by"]) == ("A-1043", "token")
    assert [e.body for e in await _events(db, assist.id)] == ["Got it, thank you!"]
    await mailroom.settled()
    before_close = len(sendgrid_sim.mails())

    proposed = await _say(mailroom, OLIVIA, "close A-1043")
    code = (await _pending(db)).code
    assert len(sendgrid_sim.mails()) == before_close
    await _say(mailroom, OLIVIA, f"approve {code}")
    await sendgrid_sim.wait_for(before_close + 1)
    await mailroom.settled()

    survey = sendgrid_sim.mails()[before_close]
    assert sendgrid_sim.recipients()[before_close:] == [customer]
    text = _content(survey)["text/plain"]
    assert "A-1043" in text and "is now resolved" in text
    links = re.findall(r"https://gw\.example/csat/\S+", text)
    assert [link.rsplit("=", 1)[1] for link in links] == ["5", "4", "3", "2", "1"]
    assert survey["reply_to"]["email"].startswith("reply+")
    assert _headers(survey)["In-Reply-To"] == "<customer-thanks@mail.example>"  # latest
    page = await mailroom.client.get(links[1].removeprefix("https://gw.example"))
    assert page.status == 200 and "4 of 5" in await page.text()
    closed = await _assist(db, 1043)
    assert closed.status == "closed" and closed.resolution
    async with db.session() as session:
        rated = await session.scalar(
            select(AssistEvent.body).where(
                AssistEvent.assist_id == assist.id, AssistEvent.kind == "csat"
            )
        )
    assert rated == "The customer rated the help 4/5."


async def _pending(db: Database) -> Proposal:
    async with db.session() as session:
        found = await session.scalar(
            select(Proposal)
            .where(Proposal.status == "pending")
            .order_by(Proposal.created_at.desc())
        )
    assert found is not None
    return found


async def test_a_members_address_failing_spf_and_dkim_runs_nothing(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim
) -> None:
    await seed(db)
    mailroom = await _gateway(make_client, db, sendgrid_sim)
    forged = simple_email(
        sender=OLIVIA,
        to=INBOX,
        subject="urgent",
        text="set A-1045 to urgent",
        message_id="<forged-1@evil.example>",
    )

    answer = await mailroom.deliver(
        inbound_parse(
            forged,
            envelope_to=[INBOX],
            spf="fail",
            dkim="none",
            envelope_from="bounce@evil.example",
        )
    )
    await mailroom.settled()

    assert answer["status"] == "kept"
    async with db.session() as session:
        assert list(await session.scalars(select(TaskRow))) == []
        assert list(await session.scalars(select(Proposal))) == []
        record = await session.scalar(select(EmailRecord))
    assert record is not None and record.flagged
    assert sendgrid_sim.mails() == []


async def test_auto_replies_are_kept_and_never_answered(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim
) -> None:
    await seed(db)
    mailroom = await _gateway(make_client, db, sendgrid_sim)
    raw = simple_email(
        sender="someone@elsewhere.example",
        to=INBOX,
        subject="Automatic reply: your message",
        text="I am out of the office until Monday.",
        message_id="<ooo-1@elsewhere.example>",
        extra_headers={"Auto-Submitted": "auto-replied"},
    )

    answer = await mailroom.deliver(inbound_parse(raw, envelope_to=[INBOX]))
    await mailroom.settled()

    assert answer["status"] == "kept"
    async with db.session() as session:
        assert list(await session.scalars(select(TaskRow))) == []
        assert len(list(await session.scalars(select(EmailRecord)))) == 1
    assert sendgrid_sim.mails() == []


async def test_unknown_recipient_domain_with_several_workspaces_is_404(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim
) -> None:
    await seed(db)
    async with db.session() as session:
        await make_workspace(session)
    mailroom = await _gateway(make_client, db, sendgrid_sim)
    before = await stored_rows(db)
    raw = simple_email(
        sender=MARIA,
        to="nobody@else.example",
        subject="x",
        text="hello",
        message_id="<x-1@demo.example>",
    )

    status, (body, _) = await mailroom.post(inbound_parse(raw, envelope_to=["nobody@else.example"]))

    assert status == 404 and "nobody@else.example" in body["message"]
    assert await stored_rows(db) == before


async def test_outbox_rows_for_email_carry_no_secrets(
    db: Database, make_client: Any, sendgrid_sim: SendGridSim
) -> None:
    await seed(db)
    mailroom = await _gateway(make_client, db, sendgrid_sim)
    await _email_team(mailroom, 1040, "We are on it.")
    await sendgrid_sim.wait_for(1)
    await mailroom.settled()
    async with db.session() as session:
        rows = list(await session.scalars(select(OutboxRow)))
    assert [r.status for r in rows] == ["sent"]
    dumped = str(rows[0].deliverable)
    token = token_of(sendgrid_sim.mails()[0]["reply_to"]["email"], INBOUND_DOMAIN)
    assert token is not None and sendgrid_sim.api_key not in dumped
    await wait_until(lambda: rows[0].provider_message_id is not None)
