"""Dialpad lines: each call event arrives as a JWT (the request body), signed HS256 with the
secret we gave Dialpad when the webhook was registered (`core/integrations/lines/dialpad.py`),
and verified with PyJWT. A voicemail's states (`voicemail`, `voicemail_uploaded`) carry its
link; the `transcription` state carries `transcription_text`."""

from __future__ import annotations

from typing import Any

import jwt

from channels.base import InboundRequest
from channels.telephony.base import (
    Inbound,
    Line,
    MalformedEvent,
    SignatureError,
    seconds,
    text_or_none,
)
from core.integrations.voicemail import LineVoicemail

ALGORITHMS = ["HS256"]


def sign(payload: dict[str, Any], secret: str) -> bytes:
    """An event as Dialpad sends it: the JWT of PAYLOAD under SECRET (tests sign with this)."""
    return jwt.encode(payload, secret, algorithm="HS256").encode()


def read(request: InboundRequest, line: Line) -> Inbound:
    secret = line.secrets.get("secret")
    if not secret:
        raise SignatureError("this Dialpad line has no webhook secret: connect it again")
    token = request.body.strip()
    if not token:
        raise SignatureError("the event is not a signed JWT")
    try:
        event = jwt.decode(token, secret, algorithms=ALGORITHMS, options={"verify_aud": False})
    except jwt.InvalidSignatureError as exc:
        raise SignatureError("the event's JWT is not signed with this line's secret") from exc
    except jwt.PyJWTError as exc:
        raise SignatureError(f"the event is not a valid JWT: {exc}") from exc
    if not isinstance(event, dict):
        raise MalformedEvent("the event is not an object")
    return Inbound(parse(event))


def _caller(event: dict[str, Any]) -> str | None:
    contact = event.get("contact")
    phone = contact.get("phone") if isinstance(contact, dict) else None
    return text_or_none(event.get("external_number")) or text_or_none(phone)


def _duration(value: object) -> int | None:
    """Dialpad counts a call's duration in milliseconds."""
    milliseconds = seconds(value)
    return None if milliseconds is None else milliseconds // 1000


def parse(event: dict[str, Any]) -> tuple[LineVoicemail, ...]:
    state = str(event.get("state") or "")
    call_id = event.get("call_id")
    if call_id is None or isinstance(call_id, bool):
        raise MalformedEvent("call_id is missing")
    key = str(call_id)
    caller, called = _caller(event), text_or_none(event.get("internal_number"))
    text = text_or_none(event.get("transcription_text"))
    link = text_or_none(event.get("voicemail_link"))
    if state.startswith("voicemail") and (link or text):
        return (
            LineVoicemail(
                key=key,
                part="voicemail",
                caller=caller,
                called=called,
                transcript=text,
                recording_url=link,
                duration=_duration(event.get("duration")),
            ),
        )
    if state == "transcription" and text and (link or event.get("voicemail_recording_id")):
        return (
            LineVoicemail(
                key=key, part="transcript", caller=caller, called=called, transcript=text
            ),
        )
    return ()
