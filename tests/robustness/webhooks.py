"""Every webhook route of the gateway, with requests built and signed as each provider builds
and signs them, and the ways a request can be wrongly signed.

A `Wire` is one HTTP request as bytes on the wire (method, path with query, headers, body).
Builders return it unsigned; `sign` adds what the provider adds (Slack's `v0` HMAC, Telegram's
secret header, Twilio's URL+parameters HMAC, ElevenLabs' timestamped HMAC, HTTP Basic for
Inbound Parse, a Bearer API key for the web channel); `Defect`s are the ways that goes wrong.
Links (`/csat/{token}`, `/media/{token}`) carry their signature in the path instead.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode

import jwt
from multidict import MultiDict
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from channels.telephony.quo import HEADER as QUO_HEADER
from channels.telephony.quo import signature as quo_signature
from channels.telephony.vonage import sign as vonage_sign
from channels.voice.elevenlabs import sign as elevenlabs_sign
from core.assists.csat import csat_key, csat_token
from storage.db import Database
from storage.domain import (
    Assist,
    AssistEvent,
    Conversation,
    Customer,
    KnowledgeGap,
    Proposal,
    Schedule,
    Snapshot,
)
from storage.email import EmailRecord
from storage.inbox import CustomerSession
from storage.integrations import TelephonyEvent
from storage.models import (
    ApiKey,
    AuditEntry,
    Base,
    ChannelIdentity,
    MediaObject,
    Member,
    OptOut,
    OutboxRow,
    TaskRow,
)
from storage.types import utcnow
from storage.voice import VoiceCall
from tests.channels.email_payloads import INBOUND_PASSWORD, INBOUND_USER, inbound_parse
from tests.channels.email_payloads import simple_email as _simple_email
from tests.channels.slack_payloads import SIGNING_SECRET as SLACK_SECRET
from tests.sims.aircall import transcription_created, voicemail_left
from tests.sims.dialpad import call_event
from tests.sims.elevenlabs import post_call_transcription
from tests.sims.quo import call_completed, transcript_completed
from tests.sims.ringcentral import voicemail_event
from tests.sims.twilio import (
    call_webhook,
    message_webhook,
    recording_webhook,
    transcription_webhook,
)
from tests.sims.vonage import recording_event, transcription_event

PUBLIC_BASE_URL = "https://gw.example"
OUR_NUMBER = "+15550009999"
OUR_WHATSAPP = f"whatsapp:{OUR_NUMBER}"
SECRET_KEY = "robustness-secret-key-for-links"
TELEGRAM_SECRET = "robustness-telegram-webhook-secret"
ELEVENLABS_SECRET = "wsec_robustness_elevenlabs_secret"
EMAIL_FROM = "Demo Co Support <support@demo.example>"
INBOUND_DOMAIN = "in.demo.example"
INBOX = f"help@{INBOUND_DOMAIN}"
SMALL_BODY_LIMIT = 8192  # SWITCHBOARD_MAX_BODY_BYTES for the fuzzed gateway: oversize is cheap
TWILIO_ACCOUNT = "AC" + "5" * 32  # the Twilio simulator's defaults
TWILIO_TOKEN = "simauthtoken" + "0" * 20

Family = Literal[
    "slack", "telegram", "twilio", "elevenlabs", "basic", "bearer", "link", "telephony"
]


def gateway_settings(
    *, slack: Any, telegram: Any, twilio: Any, sendgrid: Any, **overrides: Any
) -> dict[str, Any]:
    """Every channel on, pointed at the simulators (each webhook's secret as this module
    signs with it); the web channel wants an API key, so it too has a wrong way to sign."""
    return {
        "SLACK_BOT_TOKEN": slack.token,
        "SLACK_SIGNING_SECRET": SLACK_SECRET,
        "SLACK_API_URL": slack.api_url,
        "TELEGRAM_BOT_TOKEN": telegram.token,
        "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
        "TELEGRAM_API_URL": telegram.base_url,
        "TWILIO_ACCOUNT_SID": twilio.account_sid,
        "TWILIO_AUTH_TOKEN": twilio.auth_token,
        "TWILIO_API_URL": twilio.url,
        "TWILIO_SMS_FROM": OUR_NUMBER,
        "TWILIO_WHATSAPP_FROM": OUR_WHATSAPP,
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "SWITCHBOARD_SECRET_KEY": SECRET_KEY,
        "EMAIL_FROM": EMAIL_FROM,
        "EMAIL_INBOUND_DOMAIN": INBOUND_DOMAIN,
        "EMAIL_INBOUND_USER": INBOUND_USER,
        "EMAIL_INBOUND_PASSWORD": INBOUND_PASSWORD,
        "SENDGRID_API_KEY": sendgrid.api_key,
        "SENDGRID_API_URL": sendgrid.url,
        "ELEVENLABS_WEBHOOK_SECRET": ELEVENLABS_SECRET,
        "SWITCHBOARD_VOICE_BUDGET": 1,
        **overrides,
    }


# ---------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class Wire:
    """One request as sent: what a signer signs and a defect spoils."""

    route: str
    family: Family
    method: str
    path: str
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    def with_headers(self, **headers: str) -> Wire:
        return replace(self, headers={**self.headers, **headers})


JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def slack_event(event: dict[str, Any]) -> Wire:
    return Wire("slack", "slack", "POST", "/slack/events", json.dumps(event).encode(), JSON)


def slack_form(form: bytes) -> Wire:
    return Wire("slack", "slack", "POST", "/slack/events", form, FORM)


def telegram_update(update: dict[str, Any] | bytes) -> Wire:
    body = update if isinstance(update, bytes) else json.dumps(update).encode()
    return Wire("telegram", "telegram", "POST", "/telegram/webhook", body, JSON)


def twilio_form(path: str, params: Mapping[str, str] | list[tuple[str, str]]) -> Wire:
    items = list(params.items()) if isinstance(params, Mapping) else params
    return Wire(path, "twilio", "POST", path, urlencode(items).encode(), FORM)


def elevenlabs_event(payload: Any) -> Wire:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return Wire("/elevenlabs/webhook", "elevenlabs", "POST", "/elevenlabs/webhook", body, JSON)


def inbound_email(
    *, sender: str, subject: str, text: str, message_id: str, to: str = INBOX, **kw: Any
) -> Wire:
    raw = _simple_email(
        sender=sender, to=to, subject=subject, text=text, message_id=message_id, **kw
    )
    post = inbound_parse(raw, envelope_to=[to])
    return Wire(
        "/email/inbound",
        "basic",
        "POST",
        "/email/inbound",
        post.body,
        {"Content-Type": post.content_type},
    )


def web_message(member: str, text: str) -> Wire:
    body = json.dumps({"member": member, "text": text}).encode()
    return Wire("/api/v1/messages", "bearer", "POST", "/api/v1/messages", body, JSON)


def link(
    route: Literal["/csat", "/media"],
    token: str,
    *,
    query: str = "",
    method: str = "GET",
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
) -> Wire:
    path = f"{route}/{token}" + (f"?{query}" if query else "")
    return Wire(route, "link", method, path, body, dict(headers or {}))


def sms(from_: str, text: str, *, sid: str | None = None, to: str | None = None) -> Wire:
    to = to or (OUR_WHATSAPP if from_.startswith("whatsapp:") else OUR_NUMBER)
    return twilio_form(
        "/twilio/sms",
        message_webhook(account_sid=TWILIO_ACCOUNT, from_=from_, to=to, body=text, sid=sid),
    )


def voice(
    path: str,
    *,
    call_sid: str,
    from_: str,
    status: str = "ringing",
    speech: str | None = None,
    query: str = "",
) -> Wire:
    params = call_webhook(
        account_sid=TWILIO_ACCOUNT,
        call_sid=call_sid,
        from_=from_,
        to=OUR_NUMBER,
        status=status,
        speech=speech,
    )
    wire = twilio_form(path, params)
    return replace(wire, path=path + (f"?{query}" if query else ""))


def voicemail(*, call_sid: str, from_: str, duration: int = 14) -> Wire:
    return twilio_form(
        "/twilio/voice/recording",
        recording_webhook(
            account_sid=TWILIO_ACCOUNT,
            call_sid=call_sid,
            from_=from_,
            to=OUR_NUMBER,
            duration=duration,
        ),
    )


def post_call(caller: str | None, turns: list[tuple[str, str]], **kw: Any) -> Wire:
    return elevenlabs_event(
        post_call_transcription(caller=caller, called=OUR_NUMBER, turns=turns, **kw)
    )


# ---------------------------------------------------------------------------- signing


def twilio_signature(token: str, url: str, body: bytes) -> str:
    """`X-Twilio-Signature` over URL and the form BODY's parameters (repeated keys too), as
    the SDK's validator recomputes it."""
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        pairs = []
    return str(RequestValidator(token).compute_signature(url, MultiDict(pairs)))


def slack_sign(body: bytes, *, secret: str, timestamp: int) -> dict[str, str]:
    """Slack's headers: `v0=` HMAC-SHA256 of `v0:{timestamp}:{body}` (over the raw bytes, so a
    body that is not UTF-8 can be signed too; the SDK's helper wants text)."""
    base = f"v0:{timestamp}:".encode() + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={digest}"}


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass(frozen=True)
class Keys:
    """The secrets a correct sender holds."""

    api_key: str = ""  # the web channel's Bearer key
    slack_secret: str = SLACK_SECRET
    telegram_secret: str = TELEGRAM_SECRET
    twilio_token: str = TWILIO_TOKEN
    elevenlabs_secret: str = ELEVENLABS_SECRET
    inbound_user: str = INBOUND_USER
    inbound_password: str = INBOUND_PASSWORD


def sign(wire: Wire, keys: Keys, *, now: float | None = None) -> Wire:
    """WIRE as its provider sends it: signed over its (possibly garbage) body."""
    now = time.time() if now is None else now
    if wire.family == "slack":
        return wire.with_headers(
            **slack_sign(wire.body, secret=keys.slack_secret, timestamp=int(now))
        )
    if wire.family == "telegram":
        return wire.with_headers(**{"X-Telegram-Bot-Api-Secret-Token": keys.telegram_secret})
    if wire.family == "twilio":
        signature = twilio_signature(keys.twilio_token, PUBLIC_BASE_URL + wire.path, wire.body)
        return wire.with_headers(**{"X-Twilio-Signature": signature})
    if wire.family == "elevenlabs":
        header = elevenlabs_sign(wire.body, keys.elevenlabs_secret, int(now))
        return wire.with_headers(**{"ElevenLabs-Signature": header})
    if wire.family == "basic":
        return wire.with_headers(Authorization=basic(keys.inbound_user, keys.inbound_password))
    if wire.family == "bearer":
        return wire.with_headers(Authorization=f"Bearer {keys.api_key}")
    return wire  # links carry their signature in the path


# The ways a request is wrongly signed, per family. Each is (name, how), applied to a wire
# that `sign` has not touched; `other` is a second, different body of the same route.
WRONG_SECRET = "not-the-secret-0123456789abcdef"


def defects(family: Family) -> tuple[str, ...]:
    return {
        "slack": (
            "missing",
            "bad_hmac",
            "stale",
            "future",
            "other_body",
            "wrong_secret",
            "timestamp_only",
            "garbled_timestamp",
        ),
        "telegram": ("missing", "wrong_secret", "prefix", "suffix", "case", "empty"),
        "twilio": ("missing", "bad_hmac", "wrong_secret", "other_body", "other_url", "empty"),
        "elevenlabs": (
            "missing",
            "bad_hmac",
            "stale",
            "future",
            "other_body",
            "wrong_secret",
            "malformed",
            "no_timestamp",
            "unicode_timestamp",
        ),
        "basic": ("missing", "wrong_password", "wrong_user", "not_base64", "bearer", "empty"),
        "bearer": ("missing", "random_key", "revoked_key", "basic", "empty"),
        "link": ("forged", "expired", "other_key", "garbage"),
    }[family]


def spoil(
    wire: Wire,
    defect: str,
    keys: Keys,
    other: bytes,
    *,
    revoked_key: str = "",
    now: float | None = None,
) -> Wire:
    """WIRE wrongly signed in the way DEFECT names (links: see `link_token`)."""
    now = time.time() if now is None else now
    family = wire.family
    wrong = replace(
        keys,
        slack_secret=WRONG_SECRET,
        telegram_secret=WRONG_SECRET,
        twilio_token=WRONG_SECRET,
        elevenlabs_secret=WRONG_SECRET,
        inbound_password=WRONG_SECRET,
    )
    if defect == "missing":
        return wire
    if defect == "wrong_secret":
        return sign(wire, wrong, now=now)
    if defect == "other_body":
        return replace(sign(replace(wire, body=other), keys, now=now), body=wire.body)
    if family == "slack":
        stamp = str(int(now))
        if defect == "bad_hmac":
            return wire.with_headers(
                **{"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": "v0=" + "0" * 64}
            )
        if defect in ("stale", "future"):
            # A minute past the five Slack allows either way: a request that waits a second on
            # a loaded machine must not bring a "future" timestamp back inside the window.
            at = now - 360 if defect == "stale" else now + 360
            return wire.with_headers(
                **slack_sign(wire.body, secret=keys.slack_secret, timestamp=int(at))
            )
        if defect == "timestamp_only":
            return wire.with_headers(**{"X-Slack-Request-Timestamp": stamp})
        if defect == "garbled_timestamp":
            signed = sign(wire, keys, now=now)
            return signed.with_headers(**{"X-Slack-Request-Timestamp": stamp + ".5"})
    if family == "telegram":
        value = {
            "prefix": TELEGRAM_SECRET[:-1],
            "suffix": TELEGRAM_SECRET + "x",
            "case": TELEGRAM_SECRET.upper(),
            "empty": "",
        }[defect]
        return wire.with_headers(**{"X-Telegram-Bot-Api-Secret-Token": value})
    if family == "twilio":
        if defect == "bad_hmac":
            return wire.with_headers(**{"X-Twilio-Signature": base64.b64encode(b"x" * 20).decode()})
        if defect == "other_url":
            signature = twilio_signature(
                keys.twilio_token, PUBLIC_BASE_URL + "/elsewhere", wire.body
            )
            return wire.with_headers(**{"X-Twilio-Signature": signature})
        if defect == "empty":
            return wire.with_headers(**{"X-Twilio-Signature": ""})
    if family == "elevenlabs":
        header = "ElevenLabs-Signature"
        if defect == "bad_hmac":
            return wire.with_headers(**{header: f"t={int(now)},v0={'0' * 64}"})
        if defect in ("stale", "future"):
            at = now - 31 * 60 if defect == "stale" else now + 31 * 60
            return wire.with_headers(
                **{header: elevenlabs_sign(wire.body, keys.elevenlabs_secret, int(at))}
            )
        if defect == "malformed":
            return wire.with_headers(**{header: "v0"})
        if defect == "unicode_timestamp":  # "²".isdigit() is True; int("²") raises
            return wire.with_headers(**{header: f"t=\u00b2,v0={'0' * 64}"})
        if defect == "no_timestamp":
            good = elevenlabs_sign(wire.body, keys.elevenlabs_secret, int(now))
            return wire.with_headers(**{header: good.split(",", 1)[1]})
    if family == "basic":
        value = {
            "wrong_password": basic(keys.inbound_user, WRONG_SECRET),
            "wrong_user": basic("someone", keys.inbound_password),
            "not_base64": "Basic !!!not base64!!!",
            "bearer": f"Bearer {keys.inbound_password}",
            "empty": "",
        }[defect]
        return wire.with_headers(Authorization=value)
    if family == "bearer":
        value = {
            "random_key": "Bearer sb_" + "q" * 40,
            "revoked_key": f"Bearer {revoked_key}",
            "basic": basic("key", keys.api_key),
            "empty": "Bearer ",
        }[defect]
        return wire.with_headers(Authorization=value)
    raise ValueError(f"no defect {defect!r} for {family}")


def media_token(secret: str, media_id: str, expiry: str) -> str:
    """A /media token over MEDIA_ID and EXPIRY (any text), signed as `MediaStore.token` signs."""
    key = hashlib.sha256(b"switchboard-media:" + secret.encode()).digest()
    message = f"{media_id}.{expiry}"
    digest = hmac.new(key, message.encode(), hashlib.sha256).digest()
    return f"{message}.{base64.urlsafe_b64encode(digest[:24]).decode().rstrip('=')}"


def survey_token(secret: str, assist_id: str, expiry: str) -> str:
    """A /csat token over ASSIST_ID and EXPIRY (any text), signed as `csat.csat_token` signs."""
    key = csat_key(secret.encode())
    if expiry.isascii() and expiry.isdigit() and len(expiry) <= 10:
        return csat_token(key, assist_id, datetime.fromtimestamp(int(expiry), tz=utcnow().tzinfo))
    body = f"{assist_id}.{expiry}"
    signature = hmac.new(key, body.encode(), hashlib.sha256).digest()[:18]
    return f"{body}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def link_token(kind: Literal["/csat", "/media"], target_id: str, defect: str | None) -> str:
    """A link token for TARGET_ID: valid (DEFECT None) or spoiled as DEFECT says."""
    make = survey_token if kind == "/csat" else media_token
    later = str(int((utcnow() + timedelta(days=1)).timestamp()))
    if defect is None:
        return make(SECRET_KEY, target_id, later)
    if defect == "expired":
        return make(SECRET_KEY, target_id, str(int((utcnow() - timedelta(minutes=1)).timestamp())))
    if defect == "other_key":
        return make(WRONG_SECRET, target_id, later)
    good = make(SECRET_KEY, target_id, later)
    if defect == "forged":
        head, _, signature = good.rpartition(".")
        flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
        return f"{head}.{flipped}"
    return f"{target_id}.{later}"  # garbage: no signature at all


# ---------------------------------------------------------------------------- what was stored

STORED = {
    "tasks": TaskRow,
    "outbox": OutboxRow,
    "assists": Assist,
    "assist_events": AssistEvent,
    "customers": Customer,
    "customer_sessions": CustomerSession,
    "conversations": Conversation,
    "email_records": EmailRecord,
    "voice_calls": VoiceCall,
    "opt_outs": OptOut,
    "media": MediaObject,
    "proposals": Proposal,
    "snapshots": Snapshot,
    "schedules": Schedule,
    "knowledge_gaps": KnowledgeGap,
    "members": Member,
    "channel_identities": ChannelIdentity,
    "api_keys": ApiKey,
    "audit_log": AuditEntry,
    "telephony_events": TelephonyEvent,
}


async def stored(db: Database) -> dict[str, int]:
    """Row counts of every table a request could add to, in one query."""
    counts = [
        select(func.count()).select_from(model).scalar_subquery() for model in STORED.values()
    ]
    async with db.session() as session:
        row = (await session.execute(select(*counts))).one()
    return dict(zip(STORED, (int(n) for n in row), strict=True))


# The only tables whose rows belong to no workspace: sign-in attempts are counted by email and
# address before anyone is signed in (and an unknown email has no workspace at all).
GLOBAL_TABLES = frozenset({"sign_in_attempts"})


async def snapshot(db: Database, workspace_id: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of WORKSPACE_ID in every table, as plain tuples in primary-key order."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    async with db.session() as session:
        for table in Base.metadata.sorted_tables:
            if table.name in GLOBAL_TABLES:
                continue
            owner = table.c.id if table.name == "workspaces" else table.c.workspace_id
            rows = await session.execute(
                select(table).where(owner == workspace_id).order_by(*table.primary_key.columns)
            )
            found[table.name] = [tuple(row) for row in rows]
    return found


# ---------------------------------------------------------------------------- telephony lines
# `POST /telephony/{provider}/{integration_id}`: one connected line per provider, each signed
# as its provider signs (Twilio's URL HMAC with the line's auth token, Dialpad's JWT body,
# Aircall's token in the body, Quo's `openphone-signature`, RingCentral's
# `Verification-Token`, Vonage's signed-webhook JWT).

TELEPHONY_PROVIDERS = ("twilio", "dialpad", "aircall", "quo", "ringcentral", "vonage")
TELEPHONY_DEFECTS = ("missing", "wrong_secret", "other_body", "other_line")


@dataclass(frozen=True)
class TelephonyLine:
    """A connected line: its path and what its provider signs with."""

    provider: str
    path: str
    secret: str  # the auth token, webhook secret, token, key or signature secret
    number: str
    application_id: str = ""  # Vonage's
    api_url: str = ""  # the line's provider simulator (transcripts are fetched there)


def _json_wire(line: TelephonyLine, event: Any, path: str | None = None) -> Wire:
    return Wire(
        f"telephony:{line.provider}",
        "telephony",
        "POST",
        path or line.path,
        json.dumps(event).encode(),
        JSON,
    )


def telephony_event(line: TelephonyLine, draw: dict[str, Any]) -> Wire:
    """A plausible event for LINE (unsigned), from the values in DRAW: `call` (a number),
    `caller`, `kind` (voicemail or transcript), `text`."""
    call, caller, kind, text = draw["call"], draw["caller"], draw["kind"], draw["text"]
    if line.provider == "twilio":
        sid = f"CA{call:032d}"[:34]
        params = (
            recording_webhook(
                account_sid=TWILIO_LINE_ACCOUNT, call_sid=sid, from_=caller, to=line.number
            )
            if kind == "voicemail"
            else transcription_webhook(
                account_sid=TWILIO_LINE_ACCOUNT,
                call_sid=sid,
                from_=caller,
                to=line.number,
                recording_sid="RE" + "1" * 32,
                text=text,
            )
        )
        wire = twilio_form(line.path, params)
        return replace(wire, route="telephony:twilio", family="telephony")
    if line.provider == "dialpad":
        event = call_event(
            call_id=call,
            state="voicemail_uploaded" if kind == "voicemail" else "transcription",
            caller=caller,
            line_number=line.number,
            voicemail_link="https://dialpad.com/r/vm/1",
            transcription_text=text,
        )
        return _json_wire(line, event)
    if line.provider == "aircall":
        event = (
            voicemail_left(
                token="",
                call_id=call,
                caller=caller,
                line_number=line.number,
                voicemail="https://aircall.example/vm.mp3",
            )
            if kind == "voicemail"
            else transcription_created(token="", call_id=call, lines=[text], caller=caller)
        )
        event.pop("token")
        return _json_wire(line, event)
    if line.provider == "quo":
        event = (
            call_completed(
                call_id=f"AC{call}",
                caller=caller,
                line_number=line.number,
                voicemail_url="https://m.openph.one/vm.mp3",
            )
            if kind == "voicemail"
            else transcript_completed(call_id=f"AC{call}", caller=caller, lines=[text])
        )
        return _json_wire(line, event)
    if line.provider == "ringcentral":
        event = voicemail_event(
            message_id=call,
            caller=caller,
            line_number=line.number,
            subscription_id="sub",
            transcript_base=line.api_url if kind == "transcript" else None,
        )
        return _json_wire(line, event)
    path = f"{line.path}?{urlencode({'from': caller, 'to': line.number})}"
    conversation = f"CON-{call}"
    event = (
        recording_event(conversation)
        if kind == "voicemail"
        else transcription_event(conversation, f"{line.api_url}/v1/files/{call}")
    )
    return _json_wire(line, event, path)


TWILIO_LINE_ACCOUNT = "AC" + "7" * 32


def telephony_sign(wire: Wire, line: TelephonyLine, secret: str | None = None) -> Wire:
    """WIRE as LINE's provider sends it (over its possibly garbage body), with SECRET
    (default: the line's own)."""
    key = line.secret if secret is None else secret
    now = int(time.time())
    if line.provider == "twilio":
        return wire.with_headers(
            **{"X-Twilio-Signature": twilio_signature(key, PUBLIC_BASE_URL + wire.path, wire.body)}
        )
    if line.provider == "dialpad":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a wrong secret may be short
            body = jwt.api_jws.encode(wire.body, key, algorithm="HS256").encode()
        return replace(wire, body=body)
    if line.provider == "aircall":
        try:
            event = json.loads(wire.body)
        except (UnicodeDecodeError, ValueError):
            return wire  # nowhere to carry the token
        if not isinstance(event, dict):
            return wire
        return replace(wire, body=json.dumps({**event, "token": key}).encode())
    if line.provider == "quo":
        try:
            header = quo_signature(key, wire.body, str(now * 1000))
        except ValueError:  # not base64: as a key Quo never gives
            header = f"hmac;1;{now * 1000};{base64.b64encode(b'x' * 32).decode()}"
        return wire.with_headers(**{QUO_HEADER: header})
    if line.provider == "ringcentral":
        return wire.with_headers(**{"Verification-Token": key})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        header = vonage_sign(wire.body, key, application_id=line.application_id, iat=now)
    return wire.with_headers(Authorization=header)


def telephony_spoil(
    wire: Wire, line: TelephonyLine, defect: str, other: bytes, other_secret: str
) -> Wire:
    """WIRE wrongly signed as DEFECT says: not at all, with a wrong secret, over another
    body, or with another line's secret."""
    if defect == "missing":
        return wire
    if defect == "wrong_secret":
        wrong = (
            base64.b64encode(WRONG_SECRET.encode()).decode()
            if line.provider == "quo"
            else WRONG_SECRET
        )
        return telephony_sign(wire, line, wrong)
    if defect == "other_line":
        return telephony_sign(wire, line, other_secret)
    if line.provider in ("aircall", "ringcentral"):
        # Neither signs the body (Aircall's token rides in it, RingCentral's verification
        # token in a header): another body is no defect, so it is a wrong token instead.
        return telephony_sign(wire, line, WRONG_SECRET)
    if line.provider == "dialpad":  # the JWT is the body: another body's JWT, over this one
        return telephony_sign(replace(wire, body=other), line)
    signed = telephony_sign(replace(wire, body=other), line)
    return replace(signed, body=wire.body)
