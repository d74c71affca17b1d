"""Vonage lines: the application's Answer URL and Event URL both point here. With a
signature secret, every request must carry `Authorization: Bearer <JWT>` signed HS256 with
it (Vonage's signed webhooks), whose `payload_hash` is the SHA-256 of the body; without
one, Vonage signs nothing and nothing can be checked (the form says the secret is optional).

The call's answer is an NCCO: a greeting for the line, then `record`, whose event (the
recording's URL) comes back here with the caller's number in the query (the answer
request is the only one that names the caller). The `record` also asks for a transcript;
Vonage's transcription event (same query) carries a `transcription_url`, fetched with the
application's JWT (`core/integrations/lines/vonage.py`) and filling the same assist."""

from __future__ import annotations

import hashlib
import hmac
import json
import warnings
from typing import Any
from urllib.parse import urlencode

import jwt
from aiohttp import web
from jwt.warnings import InsecureKeyLengthWarning

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

RECORD_SECONDS = 180
LANGUAGE = "en-US"  # the language Vonage transcribes the message in


def sign(body: bytes, secret: str, *, application_id: str, iat: int) -> str:
    """The `Authorization` header Vonage sends with BODY (tests sign with this)."""
    claims = {
        "iat": iat,
        "jti": hashlib.sha256(body + str(iat).encode()).hexdigest()[:32],
        "iss": "Vonage",
        "payload_hash": hashlib.sha256(body).hexdigest(),
        "application_id": application_id,
    }
    return "Bearer " + jwt.encode(claims, secret, algorithm="HS256")


def verify(request: InboundRequest, line: Line) -> None:
    secret = line.credentials.get("signature_secret")
    if not secret:
        return
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        raise SignatureError("the request is not signed (no Bearer JWT)")
    try:
        with warnings.catch_warnings():
            # The secret's length is the member's (or Vonage's) choice, not a fault per request.
            warnings.simplefilter("ignore", InsecureKeyLengthWarning)
            claims = jwt.decode(header[7:].strip(), secret, algorithms=["HS256"])
    except jwt.PyJWTError as exc:
        raise SignatureError(f"the JWT is not signed with this line's secret: {exc}") from exc
    digest = claims.get("payload_hash")
    # A JWT that hashes a body vouches for that body only (an empty one included): one
    # taken from another request never carries a different, or no, body.
    if (digest is not None or request.body) and not (
        isinstance(digest, str)
        and hmac.compare_digest(digest, hashlib.sha256(request.body).hexdigest())
    ):
        raise SignatureError("payload_hash does not match the body")
    application = claims.get("application_id")
    if application is not None and application != line.credentials.get("application_id"):
        raise SignatureError("the JWT is for another Vonage application")


def read(request: InboundRequest, line: Line) -> Inbound:
    verify(request, line)
    try:
        event = json.loads(request.body) if request.body.strip() else {}
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedEvent("the request is not JSON") from exc
    if not isinstance(event, dict):
        raise MalformedEvent("the request is not an object")
    if event.get("transcription_url") is not None:
        return Inbound(pending=parse_transcription(event, request.query))
    if event.get("recording_url"):
        return Inbound(parse_recording(event, request.query))
    if event.get("status") is None and event.get("uuid") and event.get("from"):
        return Inbound(answer=web.json_response(answer(line, event)))
    return Inbound()


def answer(line: Line, call: dict[str, Any]) -> list[dict[str, Any]]:
    """The NCCO for a call to the line: the greeting, then the recorded message."""
    query = urlencode({"from": str(call.get("from", ""))[:40], "to": str(call.get("to", ""))[:40]})
    event_url = f"{line.url}?{query}"
    return [
        {
            "action": "talk",
            "text": (
                f"Thanks for calling {line.label}. Nobody can take your call right now. "
                "Please leave a message after the tone."
            ),
        },
        {
            "action": "record",
            "eventUrl": [event_url],
            "eventMethod": "POST",
            "transcription": {
                "eventUrl": [event_url],
                "eventMethod": "POST",
                "language": LANGUAGE,
            },
            "endOnSilence": 3,
            "endOnKey": "#",
            "beepStart": True,
            "timeOut": RECORD_SECONDS,
        },
    ]


def parse_recording(event: dict[str, Any], query: Any) -> tuple[LineVoicemail, ...]:
    key = text_or_none(event.get("conversation_uuid")) or text_or_none(event.get("recording_uuid"))
    if key is None:
        raise MalformedEvent("conversation_uuid is missing")
    return (
        LineVoicemail(
            key=key,
            part="voicemail",
            caller=text_or_none(query.get("from")),
            called=text_or_none(query.get("to")),
            recording_url=text_or_none(event.get("recording_url")),
            duration=seconds(event.get("duration")),
        ),
    )


def parse_transcription(event: dict[str, Any], query: Any) -> tuple[Pending, ...]:
    key = text_or_none(event.get("conversation_uuid"))
    if key is None:
        raise MalformedEvent("conversation_uuid is missing")
    url = text_or_none(event.get("transcription_url"), limit=2000)
    if url is None or event.get("status") not in (None, "transcribed", "completed"):
        return ()  # a failed transcription: the voicemail keeps its recording
    return (
        Pending(
            key=key,
            ref=url,
            caller=text_or_none(query.get("from")),
            called=text_or_none(query.get("to")),
        ),
    )
