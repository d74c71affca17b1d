"""The voice channel's declaration: the Twilio Voice webhooks and ElevenLabs' post-call one."""

from __future__ import annotations

from channels.base import ChannelRoute, ChannelSpec
from channels.voice.channel import VoiceChannel
from channels.voice.config import NAME, REQUIRED, VoiceConfig
from channels.voice.elevenlabs import elevenlabs_webhook
from channels.voice.webhooks import call_webhook, gather_webhook, recording_webhook
from config import Settings


def create(settings: Settings) -> VoiceChannel:
    """The adapter; its settings were checked against REQUIRED by the registry."""
    return VoiceChannel(VoiceConfig.from_settings(settings))


VOICE = ChannelSpec(
    name=NAME,
    required=REQUIRED,
    routes=(
        ChannelRoute("POST", "/twilio/voice", call_webhook),
        ChannelRoute("POST", "/twilio/voice/gather", gather_webhook),
        ChannelRoute("POST", "/twilio/voice/recording", recording_webhook),
        ChannelRoute("POST", "/elevenlabs/webhook", elevenlabs_webhook),
    ),
    create=create,
)
