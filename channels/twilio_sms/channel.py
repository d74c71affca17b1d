"""The Twilio messaging adapter: the REST client's lifetime and the two senders."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from channels.base import ChannelContext
from channels.twilio_common import WebhookVerifier, rest_client
from channels.twilio_sms.config import NAME, TwilioConfig
from channels.twilio_sms.sender import TwilioMessageSender

if TYPE_CHECKING:
    from twilio.rest import Client

    from delivery.senders import Sender

log = logging.getLogger(__name__)


class TwilioMessaging:
    """SMS and WhatsApp through one Twilio account: webhooks in, REST API out."""

    name = NAME

    def __init__(self, config: TwilioConfig) -> None:
        self.config = config
        self.verifier = WebhookVerifier(config.auth_token, config.public_base_url)
        self._client: Client | None = None
        self._context: ChannelContext | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            raise RuntimeError("the Twilio channel is not started")
        return self._client

    async def start(self, context: ChannelContext) -> None:
        self._context = context
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
            await client.http_client.close()

    def senders(self) -> Mapping[str, Sender]:
        if self._context is None:
            raise RuntimeError("the Twilio channel is not started")
        return {
            kind: TwilioMessageSender(kind, self.config, self.client, self._context)
            for kind in ("sms", "whatsapp")
        }
