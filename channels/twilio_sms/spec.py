"""The Twilio messaging channel's declaration: the message and status webhooks."""

from __future__ import annotations

from channels.base import ChannelRoute, ChannelSpec
from channels.twilio_sms.channel import TwilioMessaging
from channels.twilio_sms.config import NAME, REQUIRED, TwilioConfig
from channels.twilio_sms.webhooks import sms_webhook, status_webhook
from config import Settings


def create(settings: Settings) -> TwilioMessaging:
    """The adapter; its settings were checked against REQUIRED by the registry."""
    return TwilioMessaging(TwilioConfig.from_settings(settings))


TWILIO = ChannelSpec(
    name=NAME,
    required=REQUIRED,
    routes=(
        ChannelRoute("POST", "/twilio/sms", sms_webhook),
        ChannelRoute("POST", "/twilio/status", status_webhook),
    ),
    create=create,
)
