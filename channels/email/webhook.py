"""`POST /email/inbound` (SendGrid Inbound Parse) and `POST /email/inbound/postmark`
(Postmark's inbound JSON), both behind HTTP Basic auth.

Order of checks, each before anything is stored: the channel is on and inbound credentials are
set (404 naming the missing setting), HTTP Basic matches (401 with `WWW-Authenticate`), the
body is at most 30 MB, 50 MB from Postmark (413; read in chunks against our own cap, since
the gateway's SWITCHBOARD_MAX_BODY_BYTES stays small for every other route), it is a readable
Inbound Parse form or Postmark JSON object (400). Then the email is routed:

1. a reply to an assist (its `reply+TOKEN@` address, its In-Reply-To / References, or its
   `[A-1042]` subject tag from the assist's customer) is threaded into the assist in one
   transaction with its journal row (a finished `email_reply` task: a customer's answer is data
   for the team, not a request to the operator);
2. anything else becomes a Task on the `email` channel, answered in the same thread; a member's
   request runs the operator (only when the email passed SPF or DKIM for its From domain: a
   From header alone proves nothing), anyone else is a customer of the workspace.

Auto-replies and bounces are kept but never answered (no mail loops). SendGrid and Postmark retry
a post that did not get a 2xx, so every outcome answers 200 only after its commit, and a
redelivery (the same Message-ID) makes nothing new.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import aiohttp
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from channels.base import ChannelContext, channel_or_404
from channels.email import store
from channels.email.channel import NAME, EmailChannel
from channels.email.inbound import InboundEmail, MalformedEmail, parse_form, parse_inbound
from channels.email.postmark_inbound import parse_postmark
from channels.errors import ChannelRejected, SignatureRejected
from core.assists import email_records, matching, replies
from core.assists.csat import Links
from models.email_threads import assist_number, tokens_in
from models.task import Approval, Attachment, Route, Sender, Task
from storage.journal import task_values
from storage.types import new_id, utcnow

MAX_INBOUND_BYTES = 30 * 1024 * 1024
# Postmark takes emails up to 35 MB and posts attachments in base64 (a third larger).
MAX_POSTMARK_BYTES = 50 * 1024 * 1024
TOO_LARGE = "the email is larger than 30 MB"
CHUNK = 256 * 1024
REALM = 'Basic realm="switchboard email inbound", charset="UTF-8"'

# "approve 1234", "Reject #1234.", "yes 1234": the first line of a member's reply.
_APPROVAL = re.compile(
    r"^\s*(?P<word>approve|approved|yes|ok|okay|confirm|reject|rejected|no|decline|cancel)"
    r"\b[\s,:#-]*(?P<code>\d{4,6})\s*[.!]*\s*$",
    re.IGNORECASE,
)
_APPROVE_WORDS = frozenset(("approve", "approved", "yes", "ok", "okay", "confirm"))


def approval_of(text: str) -> tuple[Literal["approve", "reject"], str] | None:
    """("approve"|"reject", code) when the reply's first line is a decision with its code."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    match = _APPROVAL.match(first)
    if match is None:
        return None
    word = match["word"].lower()
    return ("approve" if word in _APPROVE_WORDS else "reject"), match["code"]


def _admitted(
    request: web.Request, context: ChannelContext, limit: int = MAX_INBOUND_BYTES
) -> EmailChannel:
    """The checks made before any of the body is read: the channel and inbound credentials
    are set (404), HTTP Basic matches (401), the declared length is within the cap (413)."""
    channel = channel_or_404(context, NAME, EmailChannel, "EMAIL_FROM")
    missing = channel.config.inbound_missing
    if missing is not None:
        raise ChannelRejected(404, f"inbound email is off: {missing} is not set")
    if not channel.check_auth(request.headers.get("Authorization")):
        raise SignatureRejected(
            401, "HTTP Basic credentials are missing or wrong", {"WWW-Authenticate": REALM}
        )
    declared = request.content_length
    if declared is not None and declared > limit:
        raise ChannelRejected(413, f"the email is larger than {limit // (1024 * 1024)} MB")
    return channel


async def expect_continue(
    request: web.Request, context: ChannelContext
) -> web.StreamResponse | None:
    """`Expect: 100-continue`: refuse (auth, size) before the client sends 30 MB for nothing.

    Raises:
        ChannelRejected: what `_admitted` refuses; 417 for another expectation.
    """
    _admitted(request, context, _limit_of(request))
    if request.version == aiohttp.HttpVersion11:
        if request.headers.get("Expect", "").lower() != "100-continue":
            raise ChannelRejected(417, "only Expect: 100-continue is understood")
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0
    return None


async def inbound_webhook(request: web.Request, context: ChannelContext) -> web.Response:
    channel = _admitted(request, context)
    body = await read_capped(request, MAX_INBOUND_BYTES)
    try:
        mail = parse_inbound(parse_form(request.headers.get("Content-Type", ""), body))
    except MalformedEmail as exc:
        raise ChannelRejected(400, str(exc)) from exc
    return web.json_response(await receive(context, channel, mail))


async def postmark_webhook(request: web.Request, context: ChannelContext) -> web.Response:
    """`POST /email/inbound/postmark`: Postmark's inbound JSON, behind the same HTTP Basic auth
    (Postmark signs nothing; its webhook URL carries the credentials) and the same routing."""
    channel = _admitted(request, context, MAX_POSTMARK_BYTES)
    body = await read_capped(request, MAX_POSTMARK_BYTES)
    try:
        mail = parse_postmark(body)
    except MalformedEmail as exc:
        raise ChannelRejected(400, str(exc)) from exc
    return web.json_response(await receive(context, channel, mail))


def _limit_of(request: web.Request) -> int:
    return MAX_POSTMARK_BYTES if request.path.endswith("/postmark") else MAX_INBOUND_BYTES


async def read_capped(request: web.Request, limit: int) -> bytes:
    """The body, read in chunks, refused with 413 as soon as it passes LIMIT."""
    too_large = f"the email is larger than {limit // (1024 * 1024)} MB"
    chunks: list[bytes] = []
    total = 0
    try:
        async for chunk in request.content.iter_chunked(CHUNK):
            total += len(chunk)
            if total > limit:
                raise ChannelRejected(413, too_large)
            chunks.append(chunk)
    except (aiohttp.ClientError, HttpProcessingError, ConnectionError) as exc:
        # A broken chunked encoding or a body cut short: nothing usable arrived.
        raise ChannelRejected(400, f"the body could not be read: {type(exc).__name__}") from exc
    return b"".join(chunks)


async def _workspace(context: ChannelContext, mail: InboundEmail) -> str:
    """The workspace of the first recipient address that belongs to one."""
    for address in mail.recipients:
        candidates = [address]
        local, _, domain = address.rpartition("@")
        if "+" in local:
            candidates.append(f"{local.split('+', 1)[0]}@{domain}")
        for candidate in candidates:
            found = await context.workspace_for("email", candidate)
            if found is not None:
                return found
    shown = ", ".join(mail.recipients[:3]) or "no recipient"
    raise ChannelRejected(404, f"no workspace receives email at {shown}")


def _raw(mail: InboundEmail) -> dict[str, Any]:
    """What the journal keeps of the email for audit (the bodies are in `email_records`)."""
    return {
        "subject": mail.subject,
        "from": mail.from_address,
        "from_name": mail.from_name,
        "to": list(mail.recipients),
        "message_id": mail.message_id,
        "in_reply_to": mail.in_reply_to,
        "references": list(mail.references),
        "spf": mail.spf,
        "dkim": [list(pair) for pair in mail.dkim],
        "skipped_attachments": list(mail.skipped),
    }


def _task(
    mail: InboundEmail,
    workspace_id: str,
    *,
    kind: Literal["message", "approval", "email_reply"],
    raw: dict[str, Any],
    attachments: tuple[Attachment, ...] = (),
) -> Task:
    thread = mail.message_id if mail.message_id and len(mail.message_id) <= 320 else None
    text = mail.reply_text or mail.subject
    return Task(
        id=new_id(),
        workspace_id=workspace_id,
        channel="email",
        external_id=mail.external_id,
        sender=Sender(channel="email", address=mail.from_address),
        conversation=mail.thread_key[:320],
        text=text,
        attachments=attachments,
        received_at=utcnow(),
        reply_route=Route(channel="email", address=mail.from_address, thread=thread),
        kind=kind,
        sender_name=mail.from_name or None,
        raw=raw,
    )


async def receive(
    context: ChannelContext, channel: EmailChannel, mail: InboundEmail
) -> dict[str, Any]:
    """Route MAIL to its assist or to the operator; returns what the webhook answers."""
    domain = channel.identity.inbound_domain
    tokens = tokens_in([*mail.envelope_to, *mail.to, *mail.cc], domain)
    async with context.db.session() as session:
        match = await matching.match_by_token(session, tokens)
        workspace_id = match.workspace_id if match else await _workspace(context, mail)
        member = await store.is_member(session, workspace_id, mail.from_address)
        if match is None and not member:
            # A member's email is a request even when it answers an assist thread; only
            # the reply address itself (method 1) binds an email to an assist whoever sent it.
            match = await matching.match_by_references(
                session, workspace_id, mail.thread_ids
            ) or await matching.match_by_subject(
                session, workspace_id, assist_number(mail.subject), mail.from_address
            )
    if match is not None:
        return await _thread_into_assist(context, channel, mail, match)
    if mail.from_address == channel.identity.sender or mail.auto_submitted:
        return await _keep_only(context, workspace_id, mail, "automatic or our own email")
    if member and mail.authenticated is False:
        reason = f"from a member's address but failed SPF and DKIM for {mail.from_domain}"
        return await _keep_only(context, workspace_id, mail, reason)
    return await _request(context, channel, mail, workspace_id)


async def _thread_into_assist(
    context: ChannelContext, channel: EmailChannel, mail: InboundEmail, match: matching.AssistMatch
) -> dict[str, Any]:
    raw = _raw(mail)
    task = _task(mail, match.workspace_id, kind="email_reply", raw=raw)
    now = utcnow()
    values = {**task_values(task), "status": "done", "finished_at": now}
    async with context.db.session() as session:
        outcome = await replies.thread_email_reply(
            session,
            match,
            mail,
            values,
            channel.identity,
            media_url=context.media.url,
            links=Links.from_settings(context.settings),
            now=now,
            automatic=mail.auto_submitted,
        )
    context.count_task("email", created=outcome.created)
    if outcome.notified:
        context.wake_outbox()
    return {
        "status": "threaded",
        "assist": f"A-{match.number}",
        "matched_by": match.method,
        "flagged": outcome.flagged,
        "duplicate": not outcome.created,
    }


async def _keep_only(
    context: ChannelContext, workspace_id: str, mail: InboundEmail, reason: str
) -> dict[str, Any]:
    now = utcnow()
    async with context.db.session() as session:
        await email_records.record_inbound(session, workspace_id, mail, now=now, flag_reason=reason)
    return {"status": "kept", "reason": reason}


async def _request(
    context: ChannelContext, channel: EmailChannel, mail: InboundEmail, workspace_id: str
) -> dict[str, Any]:
    """A request: the email is kept, then journalled as a Task and answered in its thread."""
    now = utcnow()
    approval = approval_of(mail.reply_text)
    task_id = new_id()
    async with context.db.session() as session:
        record, _ = await email_records.record_inbound(
            session, workspace_id, mail, now=now, task_id=task_id
        )
    attachments = tuple(
        Attachment.model_validate(email_records.task_attachment(a, context.media.url))
        for a in record.attachments
    )
    task = _task(
        mail,
        workspace_id,
        kind="approval" if approval else "message",
        raw=_raw(mail),
        attachments=attachments,
    ).model_copy(
        update={
            "id": task_id,
            "email_record": record.id,
            # Decided by the pipeline without the classifier; it checks who may decide.
            "approval": Approval(decision=approval[0], code=approval[1]) if approval else None,
        }
    )
    accepted = await context.ingest(task)
    return {"status": "accepted", "task_id": accepted.task_id, "duplicate": not accepted.created}
