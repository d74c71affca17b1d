"""The Messaging webhook (`POST /twilio/sms`) and status callbacks (`POST /twilio/status`).

A message is verified, parsed, committed as a Task and answered with empty TwiML: the reply
goes out later through the REST API, so an answer that takes a while still arrives (a TwiML
reply would have to be ready within Twilio's 15-second webhook timeout).

STOP, START and HELP (and Twilio's other standard keywords) never reach the operator: they
are recorded as finished `command` tasks (so a redelivery is recognised), in the same
transaction as their effect. STOP adds an opt-out for that workspace, channel and number; no
confirmation is sent, because on long codes Twilio itself answers the standard keywords with
the carrier-mandated confirmation, and a second text would be one too many (and, after STOP,
one we promised not to send). START removes the opt-out; HELP gets a short help text.
"""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from twilio.twiml.messaging_response import MessagingResponse

from channels.base import ChannelContext
from channels.errors import ChannelRejected
from channels.twilio_common import (
    MalformedWebhook,
    running_channel,
    twiml_response,
    verified_params,
)
from channels.twilio_sms import store
from channels.twilio_sms.channel import TwilioMessaging
from channels.twilio_sms.config import NAME, REQUIRED
from channels.twilio_sms.inbound import (
    WHATSAPP,
    InboundMessage,
    Keyword,
    approval_of,
    keyword_of,
    parse_message,
)
from delivery.outbox.queue import enqueue
from models.deliverable import Deliverable
from models.task import Approval, Route, Sender, Task
from storage.journal import task_values
from storage.types import new_id, utcnow

HELP_TEXT = (
    'Text a question or request, e.g. "how is our resolution rate this week?". '
    "Reply STOP to stop messages, START to resume. Msg & data rates may apply."
)


def _channel(context: ChannelContext) -> TwilioMessaging:
    return running_channel(context, NAME, TwilioMessaging, REQUIRED)


# Rendered once: the SDK builds the same document every time.
EMPTY_TWIML = str(MessagingResponse())


def _twiml() -> web.Response:
    """Empty TwiML: received, nothing to say now (the reply comes through the REST API)."""
    return twiml_response(EMPTY_TWIML)


async def sms_webhook(request: web.Request, context: ChannelContext) -> web.Response:
    channel = _channel(context)
    params = await verified_params(channel.verifier, channel.config.account_sid, request)
    try:
        message = parse_message(params)
    except MalformedWebhook as exc:
        raise ChannelRejected(400, str(exc)) from exc
    workspace_id = await context.workspace_for(message.channel, message.our_number)
    if workspace_id is None:
        raise ChannelRejected(404, f"no workspace answers on {message.our_number}")
    raw: dict[str, Any] = {key: params[key] for key in params}
    keyword = keyword_of(message.body)
    if keyword is not None:
        await _record_keyword(context, _task(message, workspace_id, raw, "command"), keyword)
        return _twiml()
    approval = approval_of(message.body)
    task = _task(message, workspace_id, raw, "approval" if approval else "message")
    if approval is not None:
        # Decided by the pipeline without the classifier; it checks who may decide.
        decision, code = approval
        task = task.model_copy(update={"approval": Approval(decision=decision, code=code)})
    await context.ingest(task)
    return _twiml()


def _task(
    message: InboundMessage,
    workspace_id: str,
    raw: dict[str, Any],
    kind: Literal["message", "approval", "command"] = "message",
) -> Task:
    return Task(
        id=new_id(),
        workspace_id=workspace_id,
        channel=message.channel,
        external_id=message.sid,
        sender=Sender(channel=message.channel, address=message.number),
        conversation=message.conversation,
        text=message.body,
        attachments=message.media,
        received_at=utcnow(),
        # Back to the address that wrote (whatsapp:+... on WhatsApp), from the number it wrote to.
        reply_route=Route(
            channel=message.channel, address=message.sender, thread=message.recipient
        ),
        kind=kind,
        raw=raw,
    )


async def _record_keyword(context: ChannelContext, task: Task, keyword: Keyword) -> None:
    """Apply STOP/START/HELP once per message, with its record, in one transaction."""
    now = utcnow()
    values = {
        **task_values(task),
        "raw": {**task.raw, "keyword": keyword},
        "status": "done",
        "finished_at": now,
    }
    number = task.sender.address
    async with context.db.session() as session:
        created = await store.record_keyword(session, values)
        if created and keyword == "stop":
            await store.opt_out(session, task.workspace_id, task.channel, number)
        elif created and keyword == "start":
            await store.opt_in(session, task.workspace_id, task.channel, number)
        elif created:
            enqueue(
                session,
                workspace_id=task.workspace_id,
                task_id=task.id,
                route=task.reply_route,
                deliverables=[Deliverable(text=HELP_TEXT)],
                dedupe_prefix=f"task:{task.id}",
            )
    context.count_task(task.channel, created=created)
    if created and keyword == "help":
        context.wake_outbox()


async def status_webhook(request: web.Request, context: ChannelContext) -> web.Response:
    """A message status callback: the receipt and outbox row follow it, never backwards.

    A sid we did not send (another application on the account) is acknowledged and ignored.
    """
    channel = _channel(context)
    params = await verified_params(channel.verifier, channel.config.account_sid, request)
    sid = params.get("MessageSid") or params.get("SmsSid")
    status = (params.get("MessageStatus") or params.get("SmsStatus") or "").strip().lower()
    if not sid or not status:
        raise ChannelRejected(400, "MessageSid and MessageStatus are required")
    error_code = (params.get("ErrorCode") or "").strip() or None
    async with context.db.session() as session:
        receipt = await store.update_status(session, sid, status, error_code)
        if receipt is not None and error_code == "21610":
            # The carrier or Twilio says this recipient unsubscribed: stop messaging it too.
            number = params.get("To", "").removeprefix(WHATSAPP)
            if number:
                await store.opt_out(session, receipt.workspace_id, receipt.channel, number)
    return web.Response(status=200)
