"""Outbound email providers behind one small interface; the workspace chooses which one sends.

Each adapter makes exactly one API call per `send` with its SDK's own retries off (the outbox
owns retries: two layers retrying would send an email twice), and maps the SDK's errors to
`delivery.errors`. `inline_images` says whether the provider can send a `cid:` image inside
the HTML; where it cannot (Brevo), charts travel as ordinary attachments.
"""

from __future__ import annotations

from typing import Protocol

from channels.email.message import OutgoingEmail
from models.deliverable import Receipt

# Each provider's own deadline per call; the outbox retries what times out.
API_TIMEOUT = 20.0


class EmailProvider(Protocol):
    name: str
    inline_images: bool

    async def send(self, mail: OutgoingEmail) -> Receipt:
        """Send MAIL; raises a `delivery.errors.DeliveryError`."""
        ...

    async def close(self) -> None: ...
