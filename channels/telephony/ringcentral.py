"""RingCentral lines: the subscription's handshake (a `Validation-Token` header to echo,
answered by the route before anything else: it comes while the line is still being
connected), then voicemail events carrying our `Verification-Token`, compared in constant
time. An event's `body` is the voicemail message: who called, and its `AudioRecording`
attachment."""

from __future__ import annotations

import hmac
import json
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
from core.integrations.lines.common import Pending
from core.integrations.voicemail import LineVoicemail

VALIDATION = "Validation-Token"
VERIFICATION = "Verification-Token"


def read(request: InboundRequest, line: Line) -> Inbound:
    expected = line.secrets.get("verification_token")
    if not expected:
        raise SignatureError("this RingCentral line has no subscription: connect it again")
    given = request.headers.get(VERIFICATION, "")
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise SignatureError(f"{VERIFICATION} is missing or not this line's")
    try:
        event = json.loads(request.body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedEvent("the event is not JSON") from exc
    body = event.get("body") if isinstance(event, dict) else None
    if not isinstance(body, dict):
        raise MalformedEvent("the event has no body")
    return Inbound(parse(body), pending=transcript_links(body))


def _number(party: object) -> str | None:
    return text_or_none(party.get("phoneNumber")) if isinstance(party, dict) else None


def parse(message: dict[str, Any]) -> tuple[LineVoicemail, ...]:
    if message.get("id") is None or str(message.get("type", "VoiceMail")) != "VoiceMail":
        return ()
    listed = message.get("attachments")
    attachments = [a for a in listed if isinstance(a, dict)] if isinstance(listed, list) else []
    audio = next((a for a in attachments if a.get("type") == "AudioRecording"), None)
    if audio is None or not text_or_none(audio.get("uri")):
        return ()
    to = message.get("to")
    return (
        LineVoicemail(
            key=str(message["id"]),
            part="voicemail",
            caller=_number(message.get("from")),
            called=_number(to[0]) if isinstance(to, list) and to else None,
            recording_url=text_or_none(audio.get("uri")),
            duration=seconds(audio.get("vmDuration")),
        ),
    )


def transcript_links(message: dict[str, Any]) -> tuple[Pending, ...]:
    """The finished transcript's attachment, when the message says it has one."""
    if message.get("id") is None or message.get("vmTranscriptionStatus") != "Completed":
        return ()
    listed = message.get("attachments")
    for attachment in listed if isinstance(listed, list) else []:
        if isinstance(attachment, dict) and attachment.get("type") == "AudioTranscription":
            uri = text_or_none(attachment.get("uri"))
            if uri:
                return (Pending(key=str(message["id"]), ref=uri),)
    return ()
