"""What the Twilio messaging channel needs from the settings, checked once."""

from __future__ import annotations

from dataclasses import dataclass

from config import Settings

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
