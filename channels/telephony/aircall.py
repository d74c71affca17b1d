"""Aircall lines: Aircall signs nothing; each event's body carries the webhook's `token`
(given when the webhook was registered), compared in constant time. `call.voicemail_left`
carries the voicemail's link in `data.voicemail`; events for the account's other numbers
are ignored, so each line keeps its own voicemails. `transcription.created` (Aircall AI)
says a call's transcript is ready: its `data` is the transcription (`call_id`, `type`,
`content.utterances`); the call, and the transcript when the event leaves it out, are
fetched from Aircall (`core/integrations/lines/aircall.py`)."""

from __future__ import annotations

import hmac
import json
import re
from typing import Any

from channels.base import InboundRequest
from channels.telephony.base import (
    Inbound,
    Line,
    MalformedEvent,
    SignatureError,
    seconds,
    text_or_none,
)
from core.integrations.lines.aircall import utterances_text
from core.integrations.lines.common import Pending
from core.integrations.voicemail import LineVoicemail

VOICEMAIL = "call.voicemail_left"
TRANSCRIPTION = "transcription.created"


def _digits(value: object) -> str:
    return re.sub(r"[^0-9]", "", value) if isinstance(value, str) else ""


def read(request: InboundRequest, line: Line) -> Inbound:
    expected = line.secrets.get("token")
    if not expected:
        raise SignatureError("this Aircall line has no webhook token: connect it again")
    try:
        event = json.loads(request.body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise SignatureError("the event is not JSON, so it carries no token") from exc
    token = event.get("token") if isinstance(event, dict) else None
    if not isinstance(token, str) or not hmac.compare_digest(token.encode(), expected.encode()):
        raise SignatureError("the event's token is not this line's webhook token")
    assert isinstance(event, dict)
    if event.get("event") == TRANSCRIPTION:
        return Inbound(pending=transcription(event.get("data")))
    if event.get("event") != VOICEMAIL:
        return Inbound()
    data = event.get("data")
    if not isinstance(data, dict) or data.get("id") is None:
        raise MalformedEvent("the call is missing from the event")
    return Inbound(parse(data, line.credentials.get("phone_number")))


def parse(call: dict[str, Any], line_number: str | None) -> tuple[LineVoicemail, ...]:
    number = call.get("number") if isinstance(call.get("number"), dict) else {}
    assert isinstance(number, dict)
    called = text_or_none(number.get("digits"))
    if line_number and called and _digits(called) != _digits(line_number):
        return ()  # another of the account's numbers: another line's voicemail
    link = text_or_none(call.get("voicemail"))
    if link is None:
        return ()
    return (
        LineVoicemail(
            key=str(call["id"]),
            part="voicemail",
            caller=text_or_none(call.get("raw_digits")),
            called=called,
            recording_url=link,
            duration=seconds(call.get("duration")),
        ),
    )


def transcription(data: object) -> tuple[Pending, ...]:
    """The transcript a `transcription.created` event announces, to fetch."""
    if not isinstance(data, dict):
        raise MalformedEvent("the transcription is missing from the event")
    the_call = data.get("call")
    call_id = data.get("call_id")
    if call_id is None and isinstance(the_call, dict):
        call_id = the_call.get("id")
    if call_id is None or isinstance(call_id, bool) or not isinstance(call_id, int | str):
        raise MalformedEvent("the transcription's call_id is missing")
    key = str(call_id).strip()[:64]
    if not key.isdigit():
        raise MalformedEvent("the transcription's call_id is not an Aircall call id")
    kind = data.get("type")
    return (
        Pending(
            key=key,
            ref=key,
            text=utterances_text(data.get("content")) or None,
            kind=kind if isinstance(kind, str) else None,
        ),
    )
