"""SMS and WhatsApp through Twilio: `POST /twilio/sms` in, the REST API out (`NAME` "twilio").

Inbound messages become Tasks on the `sms` or `whatsapp` channel (a `whatsapp:` prefix on the
address says which); "YES 1234" / "NO 1234" decide proposals; STOP, START and HELP are
honoured; status callbacks (`POST /twilio/status`) follow each message to delivery.
"""

from __future__ import annotations

from aiohttp import web

from channels.twilio_sms.channel import NAME, REQUIRED, TwilioConfig, TwilioMessaging
from channels.twilio_sms.webhooks import sms_webhook, status_webhook
from config import Settings

__all__ = ["NAME", "REQUIRED", "ROUTES", "TwilioMessaging", "create"]

ROUTES: list[web.RouteDef] = [
    web.post("/twilio/sms", sms_webhook),
    web.post("/twilio/status", status_webhook),
]


def create(settings: Settings) -> TwilioMessaging:
    """The adapter; its settings were checked against REQUIRED by the registry."""
    return TwilioMessaging(TwilioConfig.from_settings(settings))
