"""ElevenLabs post-call webhooks (`POST /elevenlabs/webhook`): the transcript of a call an
ElevenLabs conversational agent handled becomes a member's Task, or a customer's assist.

`ElevenLabs-Signature: t=TIMESTAMP,v0=HEX` is the HMAC-SHA256 of `TIMESTAMP.BODY` with the
webhook secret. The SDK's `webhooks.construct_event` checks it with `!=` and the wall clock;
this verifier compares in constant time, takes an injectable clock, and refuses timestamps
outside the 30-minute window on either side. Tests sign with `sign` below, and the SDK's own
helper accepts what it produces.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from channels.base import ChannelContext
from channels.errors import ChannelRejected, SignatureRejected
from channels.twilio_common import E164, MalformedWebhook
from channels.voice import store
from channels.voice.channel import VoiceChannel
from channels.voice.config import NAME
from models.task import Route, Sender, Task
from storage.types import new_id, utcnow

SIGNATURE_HEADER = "ElevenLabs-Signature"
TOLERANCE_SECONDS = 30 * 60
MAX_TURNS = 1000
MAX_TEXT = 8000


class SignatureError(Exception):
    """The request does not carry a valid, fresh `ElevenLabs-Signature`."""


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """The `ElevenLabs-Signature` header value for BODY sent at TIMESTAMP (Unix seconds)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v0={digest.hexdigest()}"


class WebhookVerifier:
    """Checks `ElevenLabs-Signature` against the webhook secret within the replay window."""

    def __init__(
        self,
        secret: str,
        *,
        tolerance: float = TOLERANCE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret.encode()
        self._tolerance = tolerance
        self._clock = clock

    def verify(self, body: bytes, header: str | None) -> None:
        """Raises:
        SignatureError: the header is missing or malformed, its timestamp is outside the
            window, or no `v0` signature matches.
        """
        if not header:
            raise SignatureError(f"{SIGNATURE_HEADER} is missing")
        timestamp: str | None = None
        signatures: list[str] = []
        for part in header.split(","):
            name, _, value = part.strip().partition("=")
            if name == "t":
                timestamp = value
            elif name == "v0":
                signatures.append(value)
        # isascii: str.isdigit() also takes "²", which int() refuses.
        if timestamp is None or not (timestamp.isascii() and timestamp.isdigit()) or not signatures:
            raise SignatureError(f"{SIGNATURE_HEADER} is not t=TIMESTAMP,v0=SIGNATURE")
        if abs(self._clock() - int(timestamp)) > self._tolerance:
            raise SignatureError(f"{SIGNATURE_HEADER} timestamp is outside the replay window")
        expected = hmac.new(
            self._secret, f"{timestamp}.".encode() + body, hashlib.sha256
        ).hexdigest()
        # Every candidate is compared (several v0 values appear while a secret rotates).
        matched = False
        for candidate in signatures:
            matched |= hmac.compare_digest(expected, candidate.strip().lower())
        if not matched:
            raise SignatureError(f"{SIGNATURE_HEADER} does not match this request")


@dataclass(frozen=True, slots=True)
class Turn:
    role: str  # "user" or "agent"
    text: str


@dataclass(frozen=True, slots=True)
class PostCall:
    """A `post_call_transcription` event, parsed."""

    conversation_id: str
    agent_id: str | None
    caller: str | None  # the caller's number (phone calls), E.164 when valid
    called: str | None  # our number they called
    call_sid: str | None
    turns: tuple[Turn, ...]
    summary: str | None

    @property
    def caller_number(self) -> str | None:
        return self.caller if self.caller and E164.match(self.caller) else None

    @property
    def request(self) -> str:
        """What the caller said, in order: the member's request."""
        return " ".join(t.text for t in self.turns if t.role == "user").strip()[:MAX_TEXT]


def _text(value: Any, name: str, *, limit: int = 500) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise MalformedWebhook(f"{name} must be a string of at most {limit} characters")
    # NUL: nobody says one, and PostgreSQL cannot store it.
    return value.replace("\x00", "").strip() or None


def _object(value: Any, name: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MalformedWebhook(f"{name} must be an object")
    return value


def parse_post_call(payload: Any) -> PostCall | None:
    """The post-call transcription in PAYLOAD; None for other event types.

    Raises:
        MalformedWebhook: not an ElevenLabs webhook event, or a transcription without a
            conversation id or with a malformed transcript.
    """
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        raise MalformedWebhook("the body must be a JSON object with a string `type`")
    if payload["type"] != "post_call_transcription":
        return None
    data = _object(payload.get("data"), "data")
    conversation_id = _text(data.get("conversation_id"), "data.conversation_id", limit=150)
    if conversation_id is None:
        raise MalformedWebhook("data.conversation_id is missing")
    transcript = data.get("transcript")
    if not isinstance(transcript, list) or len(transcript) > MAX_TURNS:
        raise MalformedWebhook(f"data.transcript must be a list of at most {MAX_TURNS} turns")
    turns = []
    for index, entry in enumerate(transcript):
        entry = _object(entry, f"data.transcript[{index}]")
        role = _text(entry.get("role"), f"data.transcript[{index}].role", limit=20)
        message = _text(entry.get("message"), f"data.transcript[{index}].message", limit=MAX_TEXT)
        if role is not None and message is not None:
            turns.append(Turn(role, message))
    metadata = _object(data.get("metadata"), "data.metadata")
    phone = _object(metadata.get("phone_call"), "data.metadata.phone_call")
    client_data = _object(
        data.get("conversation_initiation_client_data"), "data.conversation_initiation_client_data"
    )
    variables = _object(client_data.get("dynamic_variables"), "dynamic_variables")
    analysis = _object(data.get("analysis"), "data.analysis")

    def first(*values: Any) -> str | None:
        for name, value in values:
            found = _text(value, name, limit=64)
            if found:
                return found
        return None

    return PostCall(
        conversation_id=conversation_id,
        agent_id=_text(data.get("agent_id"), "data.agent_id", limit=150),
        caller=first(
            ("phone_call.external_number", phone.get("external_number")),
            ("system__caller_id", variables.get("system__caller_id")),
        ),
        called=first(
            ("phone_call.agent_number", phone.get("agent_number")),
            ("system__called_number", variables.get("system__called_number")),
        ),
        call_sid=first(
            ("phone_call.call_sid", phone.get("call_sid")),
            ("system__call_sid", variables.get("system__call_sid")),
        ),
        turns=tuple(turns),
        summary=_text(
            analysis.get("transcript_summary"), "analysis.transcript_summary", limit=4000
        ),
    )


def _json(payload: dict[str, Any]) -> web.Response:
    # Non-ASCII kept as it is, as every JSON answer of the gateway does.
    return web.json_response(payload, dumps=lambda obj: json.dumps(obj, ensure_ascii=False))


async def _workspace(context: ChannelContext, called: str | None) -> str | None:
    """The workspace of the number called; without one, the only workspace (if just one)."""
    if called:
        return await context.workspace_for("voice", called) or await context.workspace_for(
            "sms", called
        )
    return await context.workspace_for("voice", "")  # the only workspace, if just one


async def elevenlabs_webhook(request: web.Request, context: ChannelContext) -> web.Response:
    secret = context.settings.elevenlabs_webhook_secret
    if secret is None:
        raise ChannelRejected(
            404, "ElevenLabs webhooks are off: ELEVENLABS_WEBHOOK_SECRET is not set"
        )
    body = await request.read()
    try:
        WebhookVerifier(secret.get_secret_value()).verify(
            body, request.headers.get(SIGNATURE_HEADER)
        )
    except SignatureError as exc:
        raise SignatureRejected(401, str(exc)) from exc
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ChannelRejected(400, "the body is not valid JSON") from exc
    try:
        event = parse_post_call(payload)
    except MalformedWebhook as exc:
        raise ChannelRejected(400, str(exc)) from exc
    if event is None:
        return _json({"status": "ignored", "type": payload["type"]})
    workspace_id = await _workspace(context, event.called)
    if workspace_id is None:
        raise ChannelRejected(404, f"no workspace answers on {event.called or 'this agent'}")
    voice = context.channels.get(NAME)
    async with context.db.session() as session:
        member = None
        if event.caller_number is not None:
            member = await store.member_by_phone(session, workspace_id, event.caller_number)
        route = None
        if (
            member is not None
            and isinstance(voice, VoiceChannel)
            and event.caller_number is not None
        ):
            route = await voice.push_route(
                session, workspace_id, event.caller_number, event.called or ""
            )
    key = f"elevenlabs:{event.conversation_id}"
    raw = {
        "source": "elevenlabs",
        "conversation_id": event.conversation_id,
        "agent_id": event.agent_id,
        "call_sid": event.call_sid,
        "summary": event.summary,
    }
    if member is not None and event.request:
        assert event.caller_number is not None
        task = Task(
            id=new_id(),
            workspace_id=workspace_id,
            channel="voice",
            external_id=key,
            sender=Sender(channel="voice", address=event.caller_number),
            conversation=key,
            text=event.request,
            received_at=utcnow(),
            # The call is over: the answer goes by text (stored, when there is no channel).
            reply_route=route or Route(channel="voice", address=key),
            raw=raw,
        )
        accepted = await context.ingest(task)
        return _json(
            {"status": "accepted", "task_id": accepted.task_id, "duplicate": not accepted.created}
        )
    caller = event.caller or "an unknown caller"
    async with context.db.session() as session:
        brand, _welcome = await store.line_brand(session, workspace_id)
        assist, created = await store.record_voicemail(
            session,
            workspace_id=workspace_id,
            key=key,
            call_sid=event.call_sid or key,
            caller=caller,
            caller_number=event.caller_number,
            text=event.request or None,
            recording_url=None,
            duration=None,
            labels=[brand],
            kind="escalation",
            transcript=[
                {
                    "from": "customer" if t.role == "user" else "agent",
                    "channel": "voice",
                    "text": t.text,
                }
                for t in event.turns
            ],
            summary=event.summary or f"Call from {caller}: {event.request or 'nothing said'}",
            raw=raw,
        )
    return _json({"status": "accepted", "assist": assist.ref, "duplicate": not created})
