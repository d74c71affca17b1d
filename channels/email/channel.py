"""The email adapter: its configuration, the providers it can send through, its sender."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import BasicAuth

from channels.base import ChannelContext
from channels.email.choice import ProviderChoice
from channels.email.providers import EmailProvider
from channels.email.sender import EmailSender
from config import Settings
from core.assists.email_identity import EmailIdentity, identity_from

if TYPE_CHECKING:
    from delivery.senders import Sender

log = logging.getLogger("switchboard.email")

NAME = "email"
# Inbound needs EMAIL_INBOUND_USER/PASSWORD as well (its route refuses without them);
# sending needs a provider's credentials (without any, replies go to the console).
REQUIRED: tuple[str, ...] = ("EMAIL_FROM",)


@dataclass(frozen=True, slots=True)
class EmailConfig:
    """What the channel needs from the settings, checked once."""

    identity: EmailIdentity
    inbound_user: str | None
    inbound_password: str | None
    default_provider: str | None
    settings: Settings

    @classmethod
    def from_settings(cls, settings: Settings) -> EmailConfig:
        return cls(
            identity=identity_from(settings),
            inbound_user=settings.email_inbound_user,
            inbound_password=(
                settings.email_inbound_password.get_secret_value()
                if settings.email_inbound_password is not None
                else None
            ),
            default_provider=settings.email_provider
            or next(iter(settings.email_providers_configured), None),
            settings=settings,
        )

    @property
    def inbound_missing(self) -> str | None:
        """The setting the inbound route still needs, or None."""
        if not self.inbound_user:
            return "EMAIL_INBOUND_USER"
        if not self.inbound_password:
            return "EMAIL_INBOUND_PASSWORD"
        return None


def build_provider(name: str, settings: Settings) -> EmailProvider:
    """The adapter for provider NAME (its credentials are set)."""

    def secret(value: object) -> str:
        return value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)

    if name == "sendgrid":
        from channels.email.providers.sendgrid import SendGridProvider

        return SendGridProvider(secret(settings.sendgrid_api_key), str(settings.sendgrid_api_url))
    if name == "postmark":
        from channels.email.providers.postmark import PostmarkProvider

        return PostmarkProvider(
            secret(settings.postmark_server_token), str(settings.postmark_api_url)
        )
    if name == "resend":
        from channels.email.providers.resend import ResendProvider

        return ResendProvider(secret(settings.resend_api_key), str(settings.resend_api_url))
    if name == "brevo":
        from channels.email.providers.brevo import BrevoProvider

        return BrevoProvider(secret(settings.brevo_api_key), str(settings.brevo_api_url))
    if name == "smtp":
        from channels.email.providers.smtp import SmtpProvider

        assert settings.smtp_host is not None
        return SmtpProvider(
            settings.smtp_host,
            settings.smtp_port,
            username=settings.smtp_user,
            password=secret(settings.smtp_password) if settings.smtp_password else None,
            security=settings.smtp_security,
        )
    raise ValueError(f"unknown email provider {name!r}")


class EmailChannel:
    """Inbound Parse in (`POST /email/inbound`), the workspace's provider out."""

    name = NAME

    def __init__(self, config: EmailConfig) -> None:
        self.config = config
        self.identity = config.identity
        self.providers: dict[str, EmailProvider] = {}
        self._context: ChannelContext | None = None
        self._choice: ProviderChoice | None = None

    async def start(self, context: ChannelContext) -> None:
        self._context = context
        for name in self.config.settings.email_providers_configured:
            self.providers[name] = build_provider(name, self.config.settings)
        self._choice = ProviderChoice(self.providers, self.config.default_provider, context.db)
        if self.providers:
            log.info(
                "email channel is on: sending through %s (default %s)",
                ", ".join(self.providers),
                self.config.default_provider,
            )
        else:
            log.info(
                "email channel: no provider is configured (SENDGRID_API_KEY, "
                "POSTMARK_SERVER_TOKEN, RESEND_API_KEY, BREVO_API_KEY or SMTP_HOST); "
                "email replies are printed to the console"
            )
        if self.identity.inbound_domain is None or self.identity.token_key is None:
            log.info(
                "email channel: assist emails carry no reply+TOKEN@ address until "
                "EMAIL_INBOUND_DOMAIN and SWITCHBOARD_SECRET_KEY are set; replies are matched "
                "by their thread headers and [A-1042] subject tags"
            )
        missing = self.config.inbound_missing
        if missing is not None:
            log.info("email channel: /email/inbound refuses every post until %s is set", missing)

    async def stop(self) -> None:
        providers, self.providers = self.providers, {}
        for provider in providers.values():
            await provider.close()

    def senders(self) -> Mapping[str, Sender]:
        if not self.providers or self._choice is None or self._context is None:
            return {}
        return {"email": EmailSender(self.identity, self._choice, self._context)}

    def check_auth(self, header: str | None) -> bool:
        """Whether HEADER is HTTP Basic with our inbound user and password (constant time)."""
        user, password = self.config.inbound_user, self.config.inbound_password
        if not user or not password or not header:
            return False
        try:
            given = BasicAuth.decode(header)
        except ValueError:
            return False
        user_ok = hmac.compare_digest(given.login.encode(), user.encode())
        password_ok = hmac.compare_digest(given.password.encode(), password.encode())
        return user_ok and password_ok

    def forget_choice(self, workspace_id: str) -> None:
        """Drop the cached provider choice of a workspace (after it changed)."""
        if self._choice is not None:
            self._choice.forget(workspace_id)
