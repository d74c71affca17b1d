"""Reading Twilio Messaging webhooks: the message, its media, keywords and approval codes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from multidict import MultiDictProxy

from channels.twilio_common import E164, MalformedWebhook
from models.task import Attachment

PhoneChannel = Literal["sms", "whatsapp"]
Keyword = Literal["stop", "start", "help"]

WHATSAPP = "whatsapp:"
MAX_BODY = 8000  # Twilio delivers at most 1600 characters; leave room, refuse the absurd
MAX_MEDIA = 10  # Twilio's own limit per message
_SID = re.compile(r"^(SM|MM)[0-9a-fA-F]{32}$")

# Twilio's standard keywords on long codes, matched like Twilio does: the whole message is the
# one word, any case, surrounding blanks ignored.
KEYWORDS: Mapping[str, Keyword] = {
    **dict.fromkeys(
        ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"), "stop"
    ),
    **dict.fromkeys(("START", "YES", "UNSTOP"), "start"),
    **dict.fromkeys(("HELP", "INFO"), "help"),
}

# "YES 1234", "y 1234", "approve #1234", "NO, 1234", "reject 1234."
_APPROVAL = re.compile(
    r"^\s*(?P<word>yes|y|ok|okay|approve|approved|confirm|accept|"
    r"no|n|reject|rejected|decline|deny|cancel)\b[\s,:#-]*(?P<code>\d{4,6})\s*[.!]*\s*$",
    re.IGNORECASE,
)
_APPROVE_WORDS = frozenset(("yes", "y", "ok", "okay", "approve", "approved", "confirm", "accept"))


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One inbound SMS or WhatsApp message as Twilio described it."""

    sid: str
    channel: PhoneChannel
    sender: str  # `From` as Twilio gave it (whatsapp:+E164 for WhatsApp): where replies go
    recipient: str  # `To`: our number, the one replies come from
    number: str  # the sender's E.164 number (one identity across SMS, WhatsApp and voice)
    our_number: str  # our E.164 number: which workspace it reached
    body: str
    media: tuple[Attachment, ...]

    @property
    def conversation(self) -> str:
        return f"{self.sender}:{self.recipient}"


def _required(params: MultiDictProxy[str], name: str) -> str:
    value = params.get(name, "").strip()
    if not value:
        raise MalformedWebhook(f"{name} is missing")
    return value


def _number(address: str, name: str) -> tuple[bool, str]:
    """(is WhatsApp, E.164 number) of a Twilio address."""
    whatsapp = address.startswith(WHATSAPP)
    number = address.removeprefix(WHATSAPP)
    if not E164.match(number):
        raise MalformedWebhook(f"{name} {address!r} is not a phone number in E.164 form")
    return whatsapp, number


def parse_message(params: MultiDictProxy[str]) -> InboundMessage:
    """The message in a Messaging webhook.

    Raises:
        MalformedWebhook: MessageSid, From or To missing or malformed, or inconsistent media.
    """
    sid = params.get("MessageSid", "").strip() or params.get("SmsMessageSid", "").strip()
    if not sid:
        raise MalformedWebhook("MessageSid is missing")
    if not _SID.match(sid):
        raise MalformedWebhook(f"MessageSid {sid[:40]!r} is not a Twilio message sid")
    sender, recipient = _required(params, "From"), _required(params, "To")
    from_whatsapp, number = _number(sender, "From")
    to_whatsapp, our_number = _number(recipient, "To")
    if from_whatsapp != to_whatsapp:
        raise MalformedWebhook("From and To must both be WhatsApp addresses, or neither")
    body = params.get("Body", "")
    if len(body) > MAX_BODY:
        raise MalformedWebhook(f"Body is longer than {MAX_BODY} characters")
    return InboundMessage(
        sid=sid,
        channel="whatsapp" if from_whatsapp else "sms",
        sender=sender,
        recipient=recipient,
        number=number,
        our_number=our_number,
        body=body,
        media=_media(params),
    )


def _media(params: MultiDictProxy[str]) -> tuple[Attachment, ...]:
    raw = params.get("NumMedia", "0").strip() or "0"
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_MEDIA:
        raise MalformedWebhook(f"NumMedia must be a number from 0 to {MAX_MEDIA}")
    found = []
    for index in range(int(raw)):
        url = params.get(f"MediaUrl{index}", "").strip()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise MalformedWebhook(f"MediaUrl{index} is missing or not a URL")
        content_type = params.get(f"MediaContentType{index}", "").strip()
        name = parts.path.rstrip("/").rsplit("/", 1)[-1] or f"media{index}"
        found.append(
            Attachment(
                name=name[:200],
                content_type=content_type[:100] or "application/octet-stream",
                url=url,
            )
        )
    return tuple(found)


def keyword_of(body: str) -> Keyword | None:
    """STOP, START or HELP (or one of their synonyms) when that is the whole message."""
    return KEYWORDS.get(body.strip().upper())


def approval_of(body: str) -> tuple[Literal["approve", "reject"], str] | None:
    """("approve"|"reject", code) for "YES 1234", "NO 1234" and the like."""
    match = _APPROVAL.match(body)
    if match is None:
        return None
    decision: Literal["approve", "reject"] = (
        "approve" if match["word"].lower() in _APPROVE_WORDS else "reject"
    )
    return decision, match["code"]
