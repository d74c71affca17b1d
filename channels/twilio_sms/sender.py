"""Sending SMS and WhatsApp through Twilio's REST API: rendering, splitting, the checks that
come before every message (opt-outs, WhatsApp's 24-hour window) and error mapping."""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from channels.base import ChannelContext
from channels.twilio_common import delivery_error
from channels.twilio_sms import store
from channels.twilio_sms.config import TwilioConfig
from channels.twilio_sms.inbound import WHATSAPP, PhoneChannel
from channels.twilio_sms.segments import gsm_friendly, segment_count
from delivery.errors import BadRequest, InvalidRecipient, Rerouted
from delivery.render import media_of, split_text
from delivery.senders import Op
from models.deliverable import Deliverable, Receipt
from models.task import Route
from storage.types import utcnow

log = logging.getLogger(__name__)

# Twilio takes up to 1600 characters in one message and splits it into segments itself; more
# than about ten concatenated segments are delivered less reliably and cost as much as ten
# messages, so an SMS carries at most ten (1530 GSM-7 or 670 UCS-2 characters).
MAX_SEGMENTS = 10
MAX_CHARACTERS = 1600  # Twilio's limit per message, SMS and WhatsApp alike
FILE_BODY = 300
WHATSAPP_WINDOW = timedelta(hours=24)
REROUTE_NOTICE = (
    "This reply went here because WhatsApp only allows messages within 24 hours of your "
    "last message."
)
_UNSUBSCRIBED = 21610  # "Attempt to send to unsubscribed recipient"
_BAD_NUMBERS = frozenset((21211, 21614, 21612, 21408))  # invalid, not mobile, unroutable
# A look for a message that may have gone out reads the pair's latest messages, back to a
# minute before the reply was written (clocks differ).
LOOKUP_LIMIT = 50
LOOKBACK = timedelta(minutes=1)
_APPROVAL_LINE = re.compile(r'^Reply "approve \d+".*$')


def message_text(deliverable: Deliverable) -> str:
    """The deliverable as a text message; a proposal asks for a typed YES/NO with its code."""
    proposal = deliverable.data.get("proposal")
    if deliverable.kind != "proposal" or not isinstance(proposal, dict):
        return deliverable.text
    code = proposal.get("code")
    lines = [line for line in deliverable.text.splitlines() if not _APPROVAL_LINE.match(line)]
    lines.append(f"Reply YES {code} to approve, NO {code} to cancel.")
    return "\n".join(lines)


def summary(deliverable: Deliverable, limit: int = 100) -> str:
    """One line for a WhatsApp template variable (no newlines or tabs are allowed there)."""
    text = deliverable.title or next(
        (line for line in deliverable.text.splitlines() if line.strip()), ""
    )
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def split_message(text: str, channel: PhoneChannel) -> list[str]:
    """SMS: parts of at most MAX_SEGMENTS segments, cut at natural boundaries; WhatsApp
    (no segments): parts of at most MAX_CHARACTERS characters."""
    if channel == "whatsapp":
        return split_text(text, MAX_CHARACTERS)
    return split_text(gsm_friendly(text), MAX_SEGMENTS, measure=segment_count)


class TwilioMessageSender:
    """The `sms` or `whatsapp` sender: `plan` is pure, `perform` makes one REST call."""

    def __init__(
        self, kind: PhoneChannel, config: TwilioConfig, client: Client, context: ChannelContext
    ) -> None:
        self._kind = kind
        self._config = config
        self._client = client
        self._context = context

    # ------------------------------------------------------------------ plan

    def _address(self, address: str) -> str:
        number = address.removeprefix(WHATSAPP)
        return f"{WHATSAPP}{number}" if self._kind == "whatsapp" else number

    def _sender_address(self, route: Route) -> str:
        config = self._config
        if route.thread:  # a reply: from the number the member wrote to
            return self._address(route.thread)
        configured = config.whatsapp_from if self._kind == "whatsapp" else config.sms_from
        if configured is None:
            variable = "TWILIO_WHATSAPP_FROM" if self._kind == "whatsapp" else "TWILIO_SMS_FROM"
            raise BadRequest(f"no {self._kind} number to send from: set {variable}")
        return self._address(configured)

    def plan(self, route: Route, deliverable: Deliverable) -> list[Op]:
        """One message per part; a file goes as a signed `/media/{token}` link (MediaUrl)."""
        to = self._address(route.address)
        sender = self._sender_address(route)
        media = media_of(deliverable)
        media_urls = []
        if media is not None:
            expires_at = datetime.fromisoformat(media["expires_at"])
            media_urls = [self._context.media.url(media["id"], expires_at)]
        text = message_text(deliverable)
        if deliverable.kind == "file" and media_urls:
            parts = [split_message(text, self._kind)[0][:FILE_BODY]]
        else:
            parts = split_message(text, self._kind)
        keys = (("twilio.to", to), ("twilio.from", sender))
        ops = []
        for index, body in enumerate(parts):
            payload: dict[str, Any] = {"to": to, "from": sender, "body": body, "part": index}
            if index == 0:
                payload["summary"] = summary(deliverable)
            if media_urls and index == len(parts) - 1:
                payload["media_url"] = media_urls
            ops.append(Op("message", payload, rate_keys=keys))
        return ops

    # ------------------------------------------------------------------ perform

    async def perform(self, route: Route, op: Op) -> Receipt:
        """Send one message; raises InvalidRecipient (opted out, bad number), Rerouted
        (outside WhatsApp's window), or the mapped REST error."""
        payload = op.payload
        to, sender = payload["to"], payload["from"]
        number = to.removeprefix(WHATSAPP)
        workspace_id = await self._context.workspace_for(self._kind, sender.removeprefix(WHATSAPP))
        content: dict[str, Any] = {"body": payload["body"]}
        if payload.get("media_url"):
            content["media_url"] = payload["media_url"]
        async with self._context.db.session() as session:
            if await store.is_opted_out(session, self._kind, number, workspace_id):
                raise InvalidRecipient(
                    f"{number} opted out of {self._kind} messages (STOP); nothing was sent"
                )
            if self._kind == "whatsapp":
                last = await store.last_whatsapp_message(
                    session, number, sender.removeprefix(WHATSAPP), workspace_id
                )
                if last is None or utcnow() - last > WHATSAPP_WINDOW:
                    template = await self._outside_window(session, number, workspace_id, payload)
                    if template is None:
                        return Receipt(status="skipped")
                    content = template
        return await self._create(to, sender, content, number, workspace_id)

    async def _outside_window(
        self, session: AsyncSession, number: str, workspace_id: str | None, payload: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The template to send instead of free-form text (None: this part is covered by the
        template already sent); raises Rerouted or InvalidRecipient when there is none."""
        template_sid = self._config.whatsapp_template_sid
        if template_sid:
            if payload["part"] > 0:
                return None
            variables = {"1": payload.get("summary") or "a new reply"}
            return {"content_sid": template_sid, "content_variables": json.dumps(variables)}
        usable = ["slack", "telegram", "email"]
        if self._config.sms_from:
            usable.append("sms")
        target = None
        if workspace_id is not None:
            target = await store.other_route(session, number, workspace_id, usable=usable)
        if target is None:
            raise InvalidRecipient(
                f"{number} has not written on WhatsApp in the last 24 hours, no template is set "
                "(TWILIO_WHATSAPP_TEMPLATE_SID) and they have no other linked channel"
            )
        raise Rerouted(
            f"outside WhatsApp's 24-hour window for {number}",
            route=target,
            notice=REROUTE_NOTICE,
        )

    async def _create(
        self, to: str, sender: str, content: dict[str, Any], number: str, workspace_id: str | None
    ) -> Receipt:
        try:
            message = await self._client.messages.create_async(
                to=to,
                from_=sender,
                status_callback=self._config.status_callback,
                **content,
            )
        except TwilioRestException as exc:
            if exc.code == _UNSUBSCRIBED:
                await self._record_opt_out(number, workspace_id)
                raise InvalidRecipient(
                    f"{number} has unsubscribed at Twilio (error 21610); nothing was sent"
                ) from exc
            if exc.code in _BAD_NUMBERS:
                raise InvalidRecipient(
                    f"Twilio cannot deliver to {to} (error {exc.code}: {exc.msg})"
                ) from exc
            raise delivery_error(exc) from exc
        except Exception as exc:  # timeouts, resets, unreadable answers: mapped, never hidden
            raise delivery_error(exc) from exc
        return Receipt(provider_message_id=message.sid, status=str(message.status or "queued"))

    async def find_sent(self, route: Route, op: Op, since: datetime) -> list[Receipt]:
        """Messages from our number to the recipient with this part's exact text, created
        since shortly before SINCE, newest first (Twilio keeps no reference of ours on a
        message, so the words are the match; the outbox skips any it has already recorded).
        A template sent outside WhatsApp's window has other words and is not found."""
        payload = op.payload
        try:
            messages = await self._client.messages.list_async(
                to=payload["to"], from_=payload["from"], limit=LOOKUP_LIMIT
            )
        except Exception as exc:
            raise delivery_error(exc) from exc
        after = since - LOOKBACK
        found = [
            m
            for m in messages
            if m.body == payload["body"]
            and m.sid
            and (m.date_created is None or m.date_created >= after)
            and m.status not in ("failed", "undelivered", "canceled")
        ]
        found.sort(key=lambda m: m.date_created or after, reverse=True)
        return [Receipt(provider_message_id=m.sid, status=str(m.status or "queued")) for m in found]

    async def _record_opt_out(self, number: str, workspace_id: str | None) -> None:
        if workspace_id is None:
            log.warning("twilio: %s unsubscribed, but its workspace is unknown", self._kind)
            return
        async with self._context.db.session() as session:
            await store.opt_out(session, workspace_id, self._kind, number)
