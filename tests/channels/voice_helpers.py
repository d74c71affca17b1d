"""The voice channel under test: the whole gateway pointed at the Twilio and ElevenLabs
simulators, a caller whose webhooks are signed exactly as Twilio signs them, and the TwiML
answers read as XML."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from api.state import GATEWAY, Gateway
from core.team.identity import Principal
from models.classification import Classification
from storage.db import Database
from storage.domain import Assist, Customer
from storage.models import MediaObject
from storage.voice import VoiceCall
from tests.api import count_rows
from tests.sims.elevenlabs import ElevenLabsSim
from tests.sims.twilio import TwilioSim, call_webhook, twilio_signature

Client = TestClient[Any, Any]
ClientFactory = Callable[..., Awaitable[Client]]

PUBLIC_BASE_URL = "https://gw.example"
OUR_NUMBER = "+15550009999"
WEBHOOK_SECRET = "wsec_simulated_elevenlabs_webhook_secret"


class EchoClassifier:
    """Answers every member in one short line."""

    async def classify(self, text: str, principal: Principal, now: datetime) -> Classification:
        return Classification(reply=f"You said: {text}")


class GatedClassifier:
    """Like EchoClassifier, but each answer waits until the test opens the gate."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.started = asyncio.Event()

    async def classify(self, text: str, principal: Principal, now: datetime) -> Classification:
        self.started.set()
        await self.gate.wait()
        return Classification(reply=f"You said: {text}")


def voice_settings(
    twilio: TwilioSim, eleven: ElevenLabsSim | None = None, **overrides: Any
) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "TWILIO_ACCOUNT_SID": twilio.account_sid,
        "TWILIO_AUTH_TOKEN": twilio.auth_token,
        "TWILIO_API_URL": twilio.url,
        "TWILIO_SMS_FROM": OUR_NUMBER,
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "SWITCHBOARD_SECRET_KEY": "test-secret-key-for-media-links",
        "ELEVENLABS_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    if eleven is not None:
        settings.update(
            {
                "ELEVENLABS_API_KEY": eleven.api_key,
                "ELEVENLABS_API_URL": eleven.base_url,
                "ELEVENLABS_VOICE_ID": eleven.voice_id,
            }
        )
    settings.update(overrides)
    return settings


# ---------------------------------------------------------------------------- TwiML as XML


@dataclass(frozen=True)
class TwiML:
    """A TwiML answer, parsed: what it speaks, and what comes next."""

    root: ET.Element

    @classmethod
    def parse(cls, text: str) -> TwiML:
        root = ET.fromstring(text)
        assert root.tag == "Response", text
        return cls(root)

    def _verbs(self) -> list[ET.Element]:
        found: list[ET.Element] = []
        for verb in self.root:
            found.append(verb)
            if verb.tag == "Gather":
                found.extend(list(verb))
        return found

    @property
    def spoken(self) -> list[tuple[str, str]]:
        """("Play", url) and ("Say", text), in order, inside a Gather or not."""
        return [(v.tag, (v.text or "").strip()) for v in self._verbs() if v.tag in ("Play", "Say")]

    @property
    def says(self) -> str:
        return " ".join(text for tag, text in self.spoken if tag == "Say")

    @property
    def plays(self) -> list[str]:
        return [url for tag, url in self.spoken if tag == "Play"]

    @property
    def gather(self) -> ET.Element | None:
        return self.root.find("Gather")

    @property
    def redirect(self) -> str | None:
        found = self.root.find("Redirect")
        return (found.text or "").strip() if found is not None else None

    @property
    def record(self) -> ET.Element | None:
        return self.root.find("Record")

    @property
    def hangs_up(self) -> bool:
        return self.root.find("Hangup") is not None

    @property
    def next_url(self) -> str | None:
        """Where Twilio goes next: the Gather's action or the Redirect."""
        if self.gather is not None:
            return self.gather.get("action")
        return self.redirect


# ---------------------------------------------------------------------------- a caller


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@dataclass
class Call:
    """One phone call to the gateway, played the way Twilio plays it."""

    client: Client
    twilio: TwilioSim
    number: str
    call_sid: str
    last: TwiML | None = None
    history: list[TwiML] = field(default_factory=list)

    @property
    def gateway(self) -> Gateway:
        return self.client.server.app[GATEWAY]

    def params(self, **kwargs: Any) -> dict[str, str]:
        return call_webhook(
            account_sid=self.twilio.account_sid,
            call_sid=self.call_sid,
            from_=self.number,
            to=OUR_NUMBER,
            **kwargs,
        )

    async def post(
        self, url: str, params: dict[str, str], *, token: str | None = None, sign: bool = True
    ) -> tuple[int, str]:
        """POST PARAMS to URL (absolute, as TwiML names it), signed for that URL."""
        if not url.startswith("http"):
            url = PUBLIC_BASE_URL + url
        headers = {}
        if sign:
            signature = twilio_signature(token or self.twilio.auth_token, url, params)
            headers["X-Twilio-Signature"] = signature
        response = await self.client.post(path_of(url), data=params, headers=headers)
        return response.status, await response.text()

    async def twiml(self, url: str, params: dict[str, str]) -> TwiML:
        status, text = await self.post(url, params)
        assert status == 200, text
        assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>'), text
        self.last = TwiML.parse(text)
        self.history.append(self.last)
        return self.last

    async def dial(self) -> TwiML:
        return await self.twiml("/twilio/voice", self.params())

    async def say(self, speech: str) -> TwiML:
        """Speak into the current Gather (empty: silence)."""
        assert self.last is not None and self.last.gather is not None, "no Gather to answer"
        action = self.last.gather.get("action")
        assert action is not None
        return await self.twiml(action, self.params(speech=speech))

    async def follow(self) -> TwiML:
        """Follow the current Redirect (Twilio posts the call's parameters again)."""
        assert self.last is not None and self.last.redirect is not None, "no Redirect"
        return await self.twiml(self.last.redirect, self.params(status="in-progress"))

    async def hang_up(self) -> None:
        """The number's status callback, pointed at /twilio/voice, says the call is over."""
        status, text = await self.post("/twilio/voice", self.params(status="completed"))
        assert status == 200, text


async def stored_rows(db: Database) -> dict[str, int]:
    """Row counts a refused webhook must leave unchanged."""
    counts = await count_rows(db)
    async with db.session() as session:
        for name, model in (
            ("voice_calls", VoiceCall),
            ("assists", Assist),
            ("customers", Customer),
            ("media", MediaObject),
        ):
            counts[name] = int(await session.scalar(select(func.count()).select_from(model)) or 0)
    return counts
