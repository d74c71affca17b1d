"""The Twilio messaging adapter: configuration, the REST client's lifetime, the two senders."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from channels.twilio_common import WebhookVerifier, rest_client
from channels.twilio_sms.sender import TwilioMessageSender
from config import Settings

if TYPE_CHECKING:
    from twilio.rest import Client

    from api.state import Gateway
    from delivery.senders import Sender

log = logging.getLogger(__name__)

NAME = "twilio"
# Sending also needs a number to send from: a reply goes out from the number the member wrote
# to; TWILIO_SMS_FROM / TWILIO_WHATSAPP_FROM are for messages that start with us.
REQUIRED: tuple[str, ...] = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "PUBLIC_BASE_URL")


@dataclass(frozen=True, slots=True)
class TwilioConfig:
    """What the channel needs from the settings, checked once."""

    account_sid: str
    auth_token: str
    api_url: str
    public_base_url: str
    sms_from: str | None
    whatsapp_from: str | None
    whatsapp_template_sid: str | None

    @classmethod
    def from_settings(cls, settings: Settings) -> TwilioConfig:
        if (
            settings.twilio_account_sid is None
            or settings.twilio_auth_token is None
            or settings.public_base_url is None
        ):
            raise ValueError("TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and PUBLIC_BASE_URL are needed")
        return cls(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token.get_secret_value(),
            api_url=str(settings.twilio_api_url).rstrip("/"),
            public_base_url=str(settings.public_base_url).rstrip("/"),
            sms_from=settings.twilio_sms_from,
            whatsapp_from=settings.twilio_whatsapp_from,
            whatsapp_template_sid=settings.twilio_whatsapp_template_sid,
        )

    @property
    def status_callback(self) -> str:
        return f"{self.public_base_url}/twilio/status"


class TwilioMessaging:
    """SMS and WhatsApp through one Twilio account: webhooks in, REST API out."""

    name = NAME

    def __init__(self, config: TwilioConfig) -> None:
        self.config = config
        self.verifier = WebhookVerifier(config.auth_token, config.public_base_url)
        self._client: Client | None = None
        self._gateway: Gateway | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            raise RuntimeError("the Twilio channel is not started")
        return self._client

    @property
    def gateway(self) -> Gateway:
        if self._gateway is None:
            raise RuntimeError("the Twilio channel is not started")
        return self._gateway

    async def start(self, gateway: Gateway) -> None:
        self._gateway = gateway
        self._client = rest_client(
            self.config.account_sid, self.config.auth_token, self.config.api_url
        )
        # Replies to a message go out from the number it was sent to; these settings are
        # the sender for messages nobody asked for (briefings, send_to, moved replies).
        for variable, value in (
            ("TWILIO_SMS_FROM", self.config.sms_from),
            ("TWILIO_WHATSAPP_FROM", self.config.whatsapp_from),
        ):
            if value is None:
                log.info(
                    "twilio: %s is not set; replies go out from the number that was written "
                    "to, and messages that start with us on that channel cannot be sent",
                    variable,
                )
        log.info("twilio channel is on: /twilio/sms and /twilio/status")

    async def stop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.http_client.close()  # type: ignore[attr-defined]

    def senders(self) -> Mapping[str, Sender]:
        return {
            "sms": TwilioMessageSender(self, "sms"),
            "whatsapp": TwilioMessageSender(self, "whatsapp"),
        }
