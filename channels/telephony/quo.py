"""Quo (formerly OpenPhone) lines: every event carries `openphone-signature:
hmac;1;<timestamp>;<signature>`, the base64 HMAC-SHA256 of `<timestamp>.<body>` keyed with
the webhook's signing key (base64-decoded), which Quo returned when the webhook was
registered. `call.completed` brings a call's voicemail (`voicemail.url`);
`call.transcript.completed` its transcript (the dialogue's lines)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
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
from core.integrations.voicemail import LineVoicemail

HEADER = "openphone-signature"
TOLERANCE = 300.0  # seconds a signed event stays acceptable (a replay after that is refused)


def signature(key: str, body: bytes, timestamp: str) -> str:
    """The header Quo sends for BODY at TIMESTAMP (milliseconds) under the webhook KEY."""
    digest = hmac.new(base64.b64decode(key), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"hmac;1;{timestamp};{base64.b64encode(digest.digest()).decode()}"


def verify(request: InboundRequest, keys: list[str], *, now: float | None = None) -> None:
    header = request.headers.get(HEADER, "")
    fields = header.split(";")
    if len(fields) != 4 or fields[0] != "hmac" or fields[1] != "1":
        raise SignatureError(f"{HEADER} is missing or not hmac;1;<timestamp>;<signature>")
    timestamp, given = fields[2], fields[3]
    try:
        at = int(timestamp) / 1000
    except ValueError as exc:
        raise SignatureError(f"{HEADER} has no timestamp") from exc
    if abs((time.time() if now is None else now) - at) > TOLERANCE:
        raise SignatureError(f"{HEADER} is too old (or from the future): a replay is refused")
    for key in keys:
        try:
            expected = signature(key, request.body, timestamp).rsplit(";", 1)[1]
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(expected.encode(), given.encode()):
            return
    raise SignatureError(f"{HEADER} does not match this line's webhook key")


def read(request: InboundRequest, line: Line) -> Inbound:
    keys = [v for k, v in sorted(line.secrets.items()) if k.startswith("key")]
    if not keys:
        raise SignatureError("this Quo line has no webhook key: connect it again")
    verify(request, keys)
    try:
        event = json.loads(request.body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedEvent("the event is not JSON") from exc
    if not isinstance(event, dict):
        raise MalformedEvent("the event is not an object")
    data = event.get("data")
    item = data.get("object") if isinstance(data, dict) else None
    if not isinstance(item, dict):
        raise MalformedEvent("data.object is missing")
    return Inbound(parse(str(event.get("type") or ""), item))


def parse(kind: str, item: dict[str, Any]) -> tuple[LineVoicemail, ...]:
    if kind == "call.completed":
        voicemail = item.get("voicemail")
        link = text_or_none(voicemail.get("url")) if isinstance(voicemail, dict) else None
        if link is None or not item.get("id"):
            return ()
        incoming = item.get("direction") != "outgoing"
        return (
            LineVoicemail(
                key=str(item["id"]),
                part="voicemail",
                caller=text_or_none(item.get("from" if incoming else "to")),
                called=text_or_none(item.get("to" if incoming else "from")),
                recording_url=link,
                duration=seconds(voicemail.get("duration"))
                if isinstance(voicemail, dict)
                else None,
            ),
        )
    if kind == "call.transcript.completed":
        lines = item.get("dialogue")
        text = " ".join(
            str(line.get("content")).strip()
            for line in (lines if isinstance(lines, list) else [])
            if isinstance(line, dict) and line.get("content")
        )
        if not text or not item.get("callId"):
            return ()
        return (
            LineVoicemail(
                key=str(item["callId"]), part="transcript", transcript=text[:20000], opens=False
            ),
        )
    return ()
