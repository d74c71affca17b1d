"""What the voice channel needs from the settings, checked once."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from config import Settings

NAME = "voice"
REQUIRED: tuple[str, ...] = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "PUBLIC_BASE_URL")


@dataclass(frozen=True, slots=True)
class VoiceConfig:
    """What the channel needs from the settings, checked once."""

    account_sid: str
    auth_token: str
    public_base_url: str
    sms_from: str | None
    budget: float  # seconds a voice webhook may take to answer
    elevenlabs_api_key: str | None
    elevenlabs_api_url: str
    voice_id: str | None

    @classmethod
    def from_settings(cls, settings: Settings) -> VoiceConfig:
        if (
            settings.twilio_account_sid is None
            or settings.twilio_auth_token is None
            or settings.public_base_url is None
        ):
            raise ValueError("TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and PUBLIC_BASE_URL are needed")
        key = settings.elevenlabs_api_key
        return cls(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token.get_secret_value(),
            public_base_url=str(settings.public_base_url).rstrip("/"),
            sms_from=settings.twilio_sms_from,
            budget=settings.voice_budget,
            elevenlabs_api_key=key.get_secret_value() if key is not None else None,
            elevenlabs_api_url=str(settings.elevenlabs_api_url).rstrip("/"),
            voice_id=settings.elevenlabs_voice_id,
        )

    def url(self, path: str, **query: int) -> str:
        """A public URL of ours for TwiML (Twilio signs exactly this URL when it calls)."""
        shown = {name: value for name, value in query.items() if value}
        return self.public_base_url + path + (f"?{urlencode(shown)}" if shown else "")
