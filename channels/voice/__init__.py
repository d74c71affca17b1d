"""Voice through Twilio and ElevenLabs (`NAME` "voice"): calls answered with TwiML.

A member calls, is greeted by name and says what they need (`<Gather input="speech">`); the
request becomes a Task on the `voice` channel, its answer is spoken (ElevenLabs audio played
from a signed `/media` link, or `<Say>`) and the call loops until they are done. Proposals are
read back and decided by a spoken yes or no; answers that do not suit speech go to the
member's text channel. Other callers reach the AI agent's greeting and the voicemail, which
becomes an assist. `/elevenlabs/webhook` takes post-call transcripts of ElevenLabs agents.
"""

from __future__ import annotations

from aiohttp import web

from channels.voice.channel import NAME, REQUIRED, VoiceChannel, VoiceConfig
from channels.voice.elevenlabs import elevenlabs_webhook
from channels.voice.webhooks import call_webhook, gather_webhook, recording_webhook
from config import Settings

__all__ = ["NAME", "REQUIRED", "ROUTES", "VoiceChannel", "create"]

ROUTES: list[web.RouteDef] = [
    web.post("/twilio/voice", call_webhook),
    web.post("/twilio/voice/gather", gather_webhook),
    web.post("/twilio/voice/recording", recording_webhook),
    web.post("/elevenlabs/webhook", elevenlabs_webhook),
]


def create(settings: Settings) -> VoiceChannel:
    """The adapter; its settings were checked against REQUIRED by the registry."""
    return VoiceChannel(VoiceConfig.from_settings(settings))
