"""Outbound email providers against their simulators (and a local aiosmtpd SMTP server): a
well-formed message each, errors mapped for the outbox, no retry by the SDKs themselves."""

from __future__ import annotations

import base64
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import select

from channels.email import store
from channels.email.message import OutgoingAttachment, OutgoingEmail
from channels.email.providers import EmailProvider
from channels.email.providers.brevo import BrevoProvider
from channels.email.providers.postmark import PostmarkProvider
from channels.email.providers.resend import ResendProvider
from channels.email.providers.sendgrid import SendGridProvider
from channels.email.providers.smtp import SmtpProvider
from channels.email.render import Envelope, render_email
from config import SettingsError, load_settings
from core.assists.email_identity import EmailIdentity
from delivery.errors import (
    BadRequest,
    Forbidden,
    InvalidRecipient,
    ProviderUnavailable,
    RateLimited,
)
from delivery.outbox.queue import enqueue
from models.deliverable import Deliverable
from models.task import Route
from storage.db import Database
from storage.models import OutboxRow, Workspace
from tests.channels.email_helpers import (
    email_settings,
    seed,
    smtp_server,
    start,
)
from tests.helpers import wait_until
from tests.sims.brevo import BrevoSim
from tests.sims.postmark import PostmarkSim
from tests.sims.resend import ResendSim
from tests.sims.sendgrid import SendGridSim

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
CSV = b"assist,priority\nA-1042,urgent\n"


def _mail(**changes: Any) -> OutgoingEmail:
    values: dict[str, Any] = {
        "sender": "support@demo.example",
        "sender_name": "Demo Co Support",
        "to": "jane@mail.example",
        "subject": "Re: [A-1042] Refund <for> order & more",
        "text": "Hi Jane,\n\nyour refund is on its way.\n",
        "html": "<p>Hi Jane,</p><p>your refund is on its way.</p>"
        '<p><img src="cid:chart.1@in.demo.example"></p>',
        "message_id": "<sb.0001@in.demo.example>",
        "in_reply_to": "<CAJ4@mail.gmail.com>",
        "references": ("<sb.0000@in.demo.example>", "<CAJ4@mail.gmail.com>"),
        "reply_to": "reply+abcdefghijklmnopqrstuvwxyz@in.demo.example",
        "attachments": (
            OutgoingAttachment("chart.png", "image/png", PNG, "chart.1@in.demo.example"),
            OutgoingAttachment("assists.csv", "text/csv", CSV),
        ),
    }
    values.update(changes)
    return OutgoingEmail(**values)


THREAD = {
    "Message-ID": "<sb.0001@in.demo.example>",
    "In-Reply-To": "<CAJ4@mail.gmail.com>",
    "References": "<sb.0000@in.demo.example> <CAJ4@mail.gmail.com>",
}


# ---------------------------------------------------------------------------- well-formed sends


async def test_sendgrid_sends_a_well_formed_message(sendgrid_sim: SendGridSim) -> None:
    provider = SendGridProvider(sendgrid_sim.api_key, sendgrid_sim.url)

    receipt = await provider.send(_mail())

    message_id, mail = sendgrid_sim.accepted[0]
    assert receipt.provider_message_id == message_id
    assert mail["from"] == {"email": "support@demo.example", "name": "Demo Co Support"}
    assert mail["personalizations"][0]["to"] == [{"email": "jane@mail.example"}]
    assert mail["reply_to"] == {"email": "reply+abcdefghijklmnopqrstuvwxyz@in.demo.example"}
    assert mail["subject"] == "Re: [A-1042] Refund <for> order & more"
    assert mail["headers"] == THREAD
    assert [c["type"] for c in mail["content"]] == ["text/plain", "text/html"]
    # (the SDK puts each attachment added first)
    files = {a["filename"]: a for a in mail["attachments"]}
    chart, csv = files["chart.png"], files["assists.csv"]
    assert (chart["disposition"], chart["content_id"]) == ("inline", "chart.1@in.demo.example")
    assert base64.b64decode(chart["content"]) == PNG
    assert (csv["filename"], csv["type"], csv["disposition"]) == (
        "assists.csv",
        "text/csv",
        "attachment",
    )
    assert base64.b64decode(csv["content"]) == CSV


async def test_postmark_sends_a_well_formed_message(postmark_sim: PostmarkSim) -> None:
    provider = PostmarkProvider(postmark_sim.server_token, postmark_sim.url)
    try:
        receipt = await provider.send(_mail())
    finally:
        await provider.close()

    message_id, mail = postmark_sim.accepted[0]
    assert receipt.provider_message_id == message_id
    assert mail["From"] == "Demo Co Support <support@demo.example>"
    assert mail["To"] == "jane@mail.example"
    assert mail["ReplyTo"] == "reply+abcdefghijklmnopqrstuvwxyz@in.demo.example"
    assert mail["Subject"] == "Re: [A-1042] Refund <for> order & more"
    assert mail["TextBody"].startswith("Hi Jane,") and mail["HtmlBody"].startswith("<p>Hi Jane")
    assert {h["Name"]: h["Value"] for h in mail["Headers"]} == THREAD
    assert mail["MessageStream"] == "outbound"
    chart, csv = mail["Attachments"]
    assert (chart["Name"], chart["ContentID"]) == ("chart.png", "cid:chart.1@in.demo.example")
    assert base64.b64decode(csv["Content"]) == CSV and "ContentID" not in csv


async def test_resend_sends_a_well_formed_message_once_per_message_id(
    resend_sim: ResendSim,
) -> None:
    provider = ResendProvider(resend_sim.api_key, resend_sim.url)
    try:
        first = await provider.send(_mail())
        again = await provider.send(_mail())  # a retry after a lost answer
    finally:
        await provider.close()

    assert first.provider_message_id == again.provider_message_id
    assert len(resend_sim.accepted) == 1
    mail = resend_sim.emails()[0]
    assert mail["from"] == "Demo Co Support <support@demo.example>"
    assert mail["to"] == ["jane@mail.example"]
    assert mail["reply_to"] == "reply+abcdefghijklmnopqrstuvwxyz@in.demo.example"
    assert mail["headers"] == THREAD
    assert mail["text"].startswith("Hi Jane,") and "<img" in mail["html"]
    chart, csv = mail["attachments"]
    assert chart["content_id"] == "chart.1@in.demo.example"
    assert (csv["filename"], base64.b64decode(csv["content"])) == ("assists.csv", CSV)
    record = resend_sim.last("/emails")
    assert record.headers["Idempotency-Key"] == "sb.0001@in.demo.example"


async def test_brevo_sends_a_well_formed_message(brevo_sim: BrevoSim) -> None:
    provider = BrevoProvider(brevo_sim.api_key, brevo_sim.base_url)
    try:
        receipt = await provider.send(_mail())
    finally:
        await provider.close()

    message_id, mail = brevo_sim.accepted[0]
    assert receipt.provider_message_id == message_id
    assert mail["sender"] == {"email": "support@demo.example", "name": "Demo Co Support"}
    assert mail["to"] == [{"email": "jane@mail.example"}]
    assert mail["replyTo"] == {"email": "reply+abcdefghijklmnopqrstuvwxyz@in.demo.example"}
    assert mail["subject"] == "Re: [A-1042] Refund <for> order & more"
    assert mail["textContent"].startswith("Hi Jane,")
    assert mail["headers"] == {**THREAD, "IdempotencyKey": "sb.0001@in.demo.example"}
    assert [a["name"] for a in mail["attachment"]] == ["chart.png", "assists.csv"]
    assert base64.b64decode(mail["attachment"][1]["content"]) == CSV


async def test_smtp_sends_a_well_formed_mime_message() -> None:
    async with smtp_server() as server:
        provider = SmtpProvider(server.host, server.port, security="none")
        receipt = await provider.send(_mail())

    assert receipt.provider_message_id == "<sb.0001@in.demo.example>"
    mail_from, rcpt_to, message = server.received[0]
    assert (mail_from, rcpt_to) == ("support@demo.example", ["jane@mail.example"])
    assert message["From"] == "Demo Co Support <support@demo.example>"
    assert message["Subject"] == "Re: [A-1042] Refund <for> order & more"
    assert message["Reply-To"] == "reply+abcdefghijklmnopqrstuvwxyz@in.demo.example"
    assert {k: str(message[k]) for k in THREAD} == THREAD
    assert message.get_content_type() == "multipart/mixed"
    alternative = next(message.iter_parts())
    assert alternative.get_content_type() == "multipart/alternative"
    text_part = message.get_body(("plain",))
    html_part = message.get_body(("html",))
    assert text_part is not None and html_part is not None
    assert text_part.get_content().startswith("Hi Jane,")
    related = [p for p in alternative.iter_parts() if p.get_content_type() == "multipart/related"]
    image = next(p for p in related[0].iter_parts() if p.get_content_type() == "image/png")
    assert image["Content-ID"] == "<chart.1@in.demo.example>"
    assert image.get_content() == PNG
    attachment = next(p for p in message.iter_attachments() if p.get_filename() == "assists.csv")
    assert isinstance(attachment, EmailMessage)
    assert attachment.get_content().encode() == CSV


# ---------------------------------------------------------------------------- errors


def _providers(sims: dict[str, Any]) -> dict[str, EmailProvider]:
    return {
        "sendgrid": SendGridProvider(sims["sendgrid"].api_key, sims["sendgrid"].url),
        "postmark": PostmarkProvider(sims["postmark"].server_token, sims["postmark"].url),
        "resend": ResendProvider(sims["resend"].api_key, sims["resend"].url),
        "brevo": BrevoProvider(sims["brevo"].api_key, sims["brevo"].base_url),
    }


@pytest.fixture
async def every_provider(
    sendgrid_sim: SendGridSim, postmark_sim: PostmarkSim, resend_sim: ResendSim, brevo_sim: BrevoSim
) -> Any:
    sims = {
        "sendgrid": sendgrid_sim,
        "postmark": postmark_sim,
        "resend": resend_sim,
        "brevo": brevo_sim,
    }
    providers = _providers(sims)
    yield sims, providers
    for provider in providers.values():
        await provider.close()


@pytest.mark.parametrize("name", ["sendgrid", "postmark", "resend", "brevo"])
async def test_provider_errors_are_mapped_and_never_retried_by_the_sdk(
    every_provider: Any, name: str
) -> None:
    sims, providers = every_provider
    sim, provider = sims[name], providers[name]

    sim.throttle(retry_after=7)
    with pytest.raises(RateLimited) as limited:
        await provider.send(_mail(message_id="<sb.1@x.example>"))
    sim.fail(500)
    with pytest.raises(ProviderUnavailable):
        await provider.send(_mail(message_id="<sb.2@x.example>"))
    sim.fail(503)
    with pytest.raises(ProviderUnavailable):
        await provider.send(_mail(message_id="<sb.3@x.example>"))

    # One request per send: the SDKs' own retries are off, the outbox owns retrying.
    assert len(sim.requests) == 3
    # Postmark's SDK keeps no Retry-After; the others pass the provider's along.
    assert limited.value.retry_after == (5.0 if name == "postmark" else 7.0)


@pytest.mark.parametrize("name", ["sendgrid", "postmark", "resend", "brevo"])
async def test_bad_credentials_and_bad_payloads_are_permanent(
    every_provider: Any, name: str
) -> None:
    sims, providers = every_provider
    sim = sims[name]
    wrong = {
        "sendgrid": lambda: SendGridProvider("SG.wrong", sim.url),
        "postmark": lambda: PostmarkProvider("wrong-token", sim.url),
        "resend": lambda: ResendProvider("re_wrong", sim.url),
        "brevo": lambda: BrevoProvider("xkeysib-wrong", sim.url + "/v3"),
    }[name]()
    try:
        with pytest.raises(Forbidden):
            await wrong.send(_mail())
    finally:
        await wrong.close()
    with pytest.raises((BadRequest, Forbidden)) as bad:
        # No body at all: every provider refuses it as a bad request.
        await providers[name].send(_mail(text="", html=""))
    assert isinstance(bad.value, BadRequest)


async def test_postmark_inactive_recipient_and_smtp_refusals(postmark_sim: PostmarkSim) -> None:
    postmark_sim.inactive.add("jane@mail.example")
    provider = PostmarkProvider(postmark_sim.server_token, postmark_sim.url)
    try:
        with pytest.raises(InvalidRecipient):
            await provider.send(_mail())
    finally:
        await provider.close()

    async with smtp_server() as server:
        server.refuse["jane@mail.example"] = "550 5.1.1 No such user here"
        with pytest.raises(InvalidRecipient):
            await SmtpProvider(server.host, server.port, security="none").send(_mail())
        server.refuse["jane@mail.example"] = "451 4.7.1 Greylisted, try again later"
        with pytest.raises(ProviderUnavailable):
            await SmtpProvider(server.host, server.port, security="none").send(_mail())
        port = server.port
    with pytest.raises(ProviderUnavailable):  # nothing listens there any more
        await SmtpProvider("127.0.0.1", port, security="none").send(_mail())


# ---------------------------------------------------------------------------- rendering


async def test_rendering_escapes_and_shows_proposals_with_their_code() -> None:
    identity = EmailIdentity("support@demo.example", "Support", "in.demo.example", None)
    proposal = Deliverable(
        kind="proposal",
        title="Approval needed",
        text='Proposed: set A-1045 to urgent\nReply "approve 4821" to go ahead.',
        data={
            "proposal": {
                "id": "p1",
                "code": "4821",
                "summary": "set A-1045 to <urgent>",
                "status": "pending",
                "estimated_count": None,
                "changes": [{"label": "A-1045 priority", "before": "normal", "after": "urgent"}],
            }
        },
    )

    async def no_media(media_id: str) -> None:
        return None

    mail = await render_email(
        proposal,
        "olivia@demo.example",
        Envelope("Approval needed", "<sb.1@in.demo.example>"),
        identity,
        load_media=no_media,
    )

    assert mail.text.startswith("Proposed: set A-1045 to urgent")
    assert "set A-1045 to &lt;urgent&gt;" in mail.html and "<urgent>" not in mail.html
    assert "<b>approve 4821</b>" in mail.html and "<b>reject 4821</b>" in mail.html
    assert "<td" in mail.html and "normal" in mail.html


# ---------------------------------------------------------------------------- the choice


async def test_each_workspace_sends_through_the_provider_it_chose(
    db: Database,
    make_client: Any,
    monkeypatch: pytest.MonkeyPatch,
    sendgrid_sim: SendGridSim,
    postmark_sim: PostmarkSim,
) -> None:
    await seed(db)
    mailroom = await start(
        make_client,
        db,
        **email_settings(
            sendgrid_sim,
            POSTMARK_SERVER_TOKEN=postmark_sim.server_token,
            POSTMARK_API_URL=postmark_sim.url,
        ),
    )
    async with db.session() as session:
        workspace_id = await session.scalar(select(Workspace.id))
        assert workspace_id is not None

    async def briefing(key: str) -> None:
        async with db.session() as session:
            enqueue(
                session,
                workspace_id=workspace_id,
                route=Route(channel="email", address="olivia@demo.example"),
                deliverables=[Deliverable(title="Daily inbox summary", text="3 open assists")],
                dedupe_prefix=key,
            )
        assert mailroom.gateway.outbox is not None
        mailroom.gateway.outbox.wake()

    await briefing("before")
    await sendgrid_sim.wait_for(1)
    async with db.session() as session:
        await store.set_workspace_provider(session, workspace_id, "postmark")
    mailroom.gateway.channels["email"].forget_choice(workspace_id)
    await briefing("after")
    await postmark_sim.wait_for(1)

    assert len(sendgrid_sim.accepted) == 1
    assert postmark_sim.emails()[0]["Subject"] == "Daily inbox summary"

    async def sent() -> bool:
        async with db.session() as session:
            rows = list(await session.scalars(select(OutboxRow)))
        return all(r.status == "sent" for r in rows) and len(rows) == 2

    await wait_until(sent)


def test_a_chosen_provider_without_credentials_stops_start_up() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None, SWITCHBOARD_EMAIL_PROVIDER="postmark")
    assert "POSTMARK_SERVER_TOKEN" in str(caught.value)
    chosen = load_settings(
        _env_file=None, SWITCHBOARD_EMAIL_PROVIDER="smtp", SMTP_HOST="mail.demo.example"
    )
    assert chosen.email_providers_configured == ["smtp"]
