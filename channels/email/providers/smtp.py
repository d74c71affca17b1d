"""Plain SMTP through `aiosmtplib` (STARTTLS on 587, implicit TLS on 465, or none for a local
relay). One connection per message: replies are few and a kept connection would need keeping."""

from __future__ import annotations

import aiosmtplib

from channels.email.message import OutgoingEmail
from channels.email.providers import API_TIMEOUT
from delivery.errors import (
    BadRequest,
    DeliveryError,
    Forbidden,
    InvalidRecipient,
    ProviderTimeout,
    ProviderUnavailable,
)
from models.deliverable import Receipt

# 5xx replies that mean "no such mailbox" rather than "your message is wrong".
_NO_MAILBOX = frozenset({550, 551, 553})


def map_error(exc: aiosmtplib.SMTPException) -> DeliveryError:
    message = f"smtp: {type(exc).__name__}: {exc}"[:500]
    if isinstance(exc, aiosmtplib.SMTPTimeoutError):
        return ProviderTimeout(message)
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return Forbidden(message)
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [e.code for e in exc.recipients]
        if all(400 <= code < 500 for code in codes):
            return ProviderUnavailable(message)
        return InvalidRecipient(message)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        if 400 <= exc.code < 500:
            return ProviderUnavailable(message)  # greylisting, mailbox busy: try later
        if exc.code in _NO_MAILBOX:
            return InvalidRecipient(message)
        return BadRequest(message)
    # Could not connect, or the server went away.
    return ProviderUnavailable(message)


class SmtpProvider:
    name = "smtp"
    inline_images = True

    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str | None = None,
        password: str | None = None,
        security: str = "starttls",
    ) -> None:
        self._host = host
        self._port = port
        self._username = username
        self._password = password
        self._security = security

    async def send(self, mail: OutgoingEmail) -> Receipt:
        """MAIL FROM / RCPT TO / DATA on a fresh connection.

        Raises:
            DeliveryError: ProviderUnavailable (cannot connect, 4xx), ProviderTimeout,
                Forbidden (authentication), InvalidRecipient (550/551/553), BadRequest.
        """
        try:
            await aiosmtplib.send(
                mail.mime(),
                sender=mail.sender,
                recipients=[mail.to],
                hostname=self._host,
                port=self._port,
                username=self._username,
                password=self._password,
                use_tls=self._security == "tls",
                start_tls=self._security == "starttls",
                timeout=API_TIMEOUT,
            )
        except aiosmtplib.SMTPException as exc:
            raise map_error(exc) from exc
        except OSError as exc:
            raise ProviderUnavailable(f"smtp: {type(exc).__name__}: {exc}") from exc
        return Receipt(provider_message_id=mail.message_id, status="sent")

    async def close(self) -> None:
        return None
