"""Who a workspace's emails come from: the sender, the domain of our Message-IDs and the key
reply+TOKEN@ addresses are derived with, read from the settings."""

from __future__ import annotations

import email.utils
from dataclasses import dataclass, field

from config import Settings
from models.email_threads import reply_address, reply_token, token_key


@dataclass(frozen=True, slots=True)
class EmailIdentity:
    """Who our emails come from, the domain of our Message-IDs and reply addresses, and the
    key reply tokens are derived with (none without SWITCHBOARD_SECRET_KEY)."""

    sender: str
    sender_name: str
    domain: str  # Message-IDs: <...@domain>
    inbound_domain: str | None  # reply+TOKEN@inbound_domain
    token_key: bytes | None = field(default=None, repr=False)

    def reply_token(self, record_id: str) -> str | None:
        """The token of email RECORD_ID's reply address, when reply addresses are on."""
        if self.inbound_domain is None or self.token_key is None:
            return None
        return reply_token(self.token_key, record_id)

    def reply_address(self, record_id: str) -> str | None:
        """The reply+TOKEN@ address of email RECORD_ID, when reply addresses are on."""
        token = self.reply_token(record_id)
        if token is None or self.inbound_domain is None:
            return None
        return reply_address(token, self.inbound_domain)


def identity_from(settings: Settings) -> EmailIdentity:
    """Our sender and domains from EMAIL_FROM ("Acme Support <support@acme.example>") and
    EMAIL_INBOUND_DOMAIN; usable by the AI Inbox code to queue assist emails.

    Raises:
        ValueError: EMAIL_FROM is not set or holds no address.
    """
    name, address = email.utils.parseaddr(settings.email_from or "")
    if "@" not in address:
        raise ValueError(
            "EMAIL_FROM must be an address such as 'Acme Support <support@acme.example>'"
        )
    inbound = (settings.email_inbound_domain or "").strip().lower() or None
    secret = settings.switchboard_secret_key
    return EmailIdentity(
        sender=address.lower(),
        sender_name=name.strip(),
        domain=inbound or address.rpartition("@")[2].lower(),
        inbound_domain=inbound,
        token_key=token_key(secret.get_secret_value().encode()) if secret is not None else None,
    )
