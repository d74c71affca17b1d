"""The email channel's declaration: the inbound routes (SendGrid, Postmark) and the adapter."""

from __future__ import annotations

from channels.base import ChannelRoute, ChannelSpec
from channels.email.channel import NAME, REQUIRED, EmailChannel, EmailConfig
from channels.email.webhook import expect_continue, inbound_webhook, postmark_webhook
from config import Settings


def create(settings: Settings) -> EmailChannel:
    """The adapter; its settings were checked against REQUIRED by the registry."""
    return EmailChannel(EmailConfig.from_settings(settings))


EMAIL = ChannelSpec(
    name=NAME,
    required=REQUIRED,
    routes=(
        ChannelRoute("POST", "/email/inbound", inbound_webhook, expect=expect_continue),
        ChannelRoute("POST", "/email/inbound/postmark", postmark_webhook, expect=expect_continue),
    ),
    create=create,
)
