"""The voice adapter: configuration, the ElevenLabs client's lifetime, and the voice sender."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from channels.twilio_common import WebhookVerifier
from channels.voice import store
from channels.voice.tts import Speaker
from config import Settings
from delivery.senders import Op
from models.deliverable import Deliverable, Receipt
from models.task import Route

if TYPE_CHECKING:
    from api.state import Gateway
    from delivery.senders import Sender

log = logging.getLogger(__name__)

NAME = "voice"
REQUIRED: tuple[str, ...] = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "PUBLIC_BASE_URL")
ELEVENLABS_TIMEOUT = 10.0  # a ceiling; each call gets only the time its webhook has left


@dataclass(frozen=True, slots=True)
class VoiceConfig:
    """What the channel needs from the settings, checked once."""

    account_sid: str
    auth_token: str
    public_base_url: str
    sms_from: str | None
    budget: float  # seconds a voice webhook may take to answer
    elevenlabs_api_key: str | None
    elevenlabs_api_url: str
    voice_id: str | None

    @classmethod
    def from_settings(cls, settings: Settings) -> VoiceConfig:
        if (
            settings.twilio_account_sid is None
            or settings.twilio_auth_token is None
            or settings.public_base_url is None
        ):
            raise ValueError("TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and PUBLIC_BASE_URL are needed")
        key = settings.elevenlabs_api_key
        return cls(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token.get_secret_value(),
            public_base_url=str(settings.public_base_url).rstrip("/"),
            sms_from=settings.twilio_sms_from,
            budget=settings.voice_budget,
            elevenlabs_api_key=key.get_secret_value() if key is not None else None,
            elevenlabs_api_url=str(settings.elevenlabs_api_url).rstrip("/"),
            voice_id=settings.elevenlabs_voice_id,
        )

    def url(self, path: str, **query: int) -> str:
        """A public URL of ours for TwiML (Twilio signs exactly this URL when it calls)."""
        shown = {name: value for name, value in query.items() if value}
        return self.public_base_url + path + (f"?{urlencode(shown)}" if shown else "")


class VoiceChannel:
    """Calls through Twilio Voice (TwiML webhooks), spoken with ElevenLabs or `<Say>`."""

    name = NAME

    def __init__(self, config: VoiceConfig) -> None:
        self.config = config
        self.verifier = WebhookVerifier(config.auth_token, config.public_base_url)
        self._http: httpx.AsyncClient | None = None
        self._speaker: Speaker | None = None
        self._gateway: Gateway | None = None

    @property
    def gateway(self) -> Gateway:
        if self._gateway is None:
            raise RuntimeError("the voice channel is not started")
        return self._gateway

    @property
    def speaker(self) -> Speaker:
        if self._speaker is None:
            raise RuntimeError("the voice channel is not started")
        return self._speaker

    async def start(self, gateway: Gateway) -> None:
        self._gateway = gateway
        client = None
        if self.config.elevenlabs_api_key and self.config.voice_id:
            # Imported here: a gateway without ElevenLabs never loads its large SDK.
            from elevenlabs.client import AsyncElevenLabs

            self._http = httpx.AsyncClient(timeout=ELEVENLABS_TIMEOUT)
            client = AsyncElevenLabs(
                api_key=self.config.elevenlabs_api_key,
                base_url=self.config.elevenlabs_api_url,
                httpx_client=self._http,
            )
            log.info("voice: answers are spoken with ElevenLabs voice %s", self.config.voice_id)
        else:
            log.info(
                "voice: ELEVENLABS_API_KEY and ELEVENLABS_VOICE_ID are not both set; "
                "answers are spoken with Twilio <Say>"
            )
        self._speaker = Speaker(gateway.db, gateway.media, client, self.config.voice_id)
        log.info("voice channel is on: /twilio/voice, /twilio/voice/gather and /recording")

    async def stop(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()

    def senders(self) -> Mapping[str, Sender]:
        return {NAME: VoiceSender(self)}

    def usable_channels(self) -> list[str]:
        """Channels with a real sender, where a call's long answers can be pushed."""
        names: set[str] = set()
        for channel in self.gateway.channels.values():
            names.update(channel.senders())
        names.discard(NAME)
        return sorted(names)

    async def push_route(
        self, session: AsyncSession, workspace_id: str, caller: str, called: str
    ) -> Route | None:
        """Where this caller's unspoken answers go (see `store.push_route`)."""
        return await store.push_route(
            session,
            workspace_id,
            caller,
            called=called,
            usable=self.usable_channels(),
            sms_from=self.config.sms_from,
        )


class VoiceSender:
    """A call's replies are spoken by the webhook that waits for them, so "sending" one only
    stores it, like the web channel. Except when its turn was handed to the caller's text
    channel (they waited too long, or hung up): then it is pushed there."""

    def __init__(self, channel: VoiceChannel) -> None:
        self._channel = channel

    def plan(self, route: Route, deliverable: Deliverable) -> list[Op]:
        return [Op("hold", {"deliverable": deliverable})]

    async def perform(self, route: Route, op: Op) -> Receipt:
        turn = int(route.thread) if route.thread and route.thread.isdigit() else None
        if turn is None:
            return Receipt(status="stored")
        gateway = self._channel.gateway
        async with gateway.db.session() as session:
            call = await store.lock_call(session, route.address)
            if call is None or turn not in (call.pushed_turns or []):
                return Receipt(status="stored")
            target = await self._channel.push_route(
                session, call.workspace_id, call.caller, call.called
            )
            if target is None:
                return Receipt(status="stored")
            created = await store.push(session, call, turn, [op.payload["deliverable"]], target)
        if created and gateway.outbox is not None:
            gateway.outbox.wake()
        return Receipt(status="pushed")
