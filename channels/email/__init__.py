"""Email: SendGrid Inbound Parse in (`POST /email/inbound`), out through the provider the
workspace chose (SendGrid, Postmark, Resend, Brevo or SMTP), threaded into assists."""

from __future__ import annotations

from aiohttp import web

from channels.email.channel import NAME, REQUIRED, EmailChannel, EmailConfig
from channels.email.webhook import expect_continue, inbound_webhook
from config import Settings

__all__ = ["NAME", "REQUIRED", "ROUTES", "EmailChannel", "create"]

ROUTES: list[web.RouteDef] = [
    web.post("/email/inbound", inbound_webhook, expect_handler=expect_continue)
]


def create(settings: Settings) -> EmailChannel:
    """The adapter; its settings were checked against REQUIRED by the registry."""
    return EmailChannel(EmailConfig.from_settings(settings))
