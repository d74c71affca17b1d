"""The voice adapter: the ElevenLabs client's lifetime, the speaker, and the voice sender."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from channels.base import ChannelContext
from channels.twilio_common import WebhookVerifier
from channels.voice.config import NAME, VoiceConfig
from channels.voice.sender import VoiceSender, push_route
from channels.voice.tts import Speaker
from models.task import Route

if TYPE_CHECKING:
    from delivery.senders import Sender

log = logging.getLogger(__name__)

ELEVENLABS_TIMEOUT = 10.0  # a ceiling; each call gets only the time its webhook has left


class VoiceChannel:
    """Calls through Twilio Voice (TwiML webhooks), spoken with ElevenLabs or `<Say>`."""

    name = NAME

    def __init__(self, config: VoiceConfig) -> None:
        self.config = config
        self.verifier = WebhookVerifier(config.auth_token, config.public_base_url)
        self._http: httpx.AsyncClient | None = None
        self._speaker: Speaker | None = None
        self._context: ChannelContext | None = None

    @property
    def context(self) -> ChannelContext:
        if self._context is None:
            raise RuntimeError("the voice channel is not started")
        return self._context

    @property
    def speaker(self) -> Speaker:
        if self._speaker is None:
            raise RuntimeError("the voice channel is not started")
        return self._speaker

    async def start(self, context: ChannelContext) -> None:
        self._context = context
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
        self._speaker = Speaker(context.db, context.media, client, self.config.voice_id)
        log.info("voice channel is on: /twilio/voice, /twilio/voice/gather and /recording")

    async def stop(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()

    def senders(self) -> Mapping[str, Sender]:
        return {NAME: VoiceSender(self.config, self.context)}

    async def push_route(
        self, session: AsyncSession, workspace_id: str, caller: str, called: str
    ) -> Route | None:
        """Where this caller's unspoken answers go (see `store.push_route`)."""
        return await push_route(session, self.context, self.config, workspace_id, caller, called)
