"""The email channel under test: the whole gateway with SendGrid (or another provider) pointed
at its simulator, Inbound Parse posts with HTTP Basic auth, and a local SMTP server."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiohttp.test_utils import TestClient
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import func, select

from api.state import GATEWAY, Gateway
from cli.seed import Seeded, seed_workspace
from storage.db import Database
from storage.email import EmailRecord
from storage.models import MediaObject
from storage.types import utcnow
from tests.api import count_rows
from tests.channels.email_payloads import INBOUND_PASSWORD, INBOUND_USER, Post
from tests.helpers import settled
from tests.sims.sendgrid import SendGridSim

Client = TestClient[Any, Any]
ClientFactory = Callable[..., Awaitable[Client]]

EMAIL_FROM = "Demo Co Support <support@demo.example>"
SUPPORT = "support@demo.example"
INBOUND_DOMAIN = "in.demo.example"
INBOX = f"help@{INBOUND_DOMAIN}"  # the address customers and managers write to


def email_settings(sendgrid: SendGridSim | None = None, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "EMAIL_FROM": EMAIL_FROM,
        "EMAIL_INBOUND_DOMAIN": INBOUND_DOMAIN,
        "EMAIL_INBOUND_USER": INBOUND_USER,
        "EMAIL_INBOUND_PASSWORD": INBOUND_PASSWORD,
        "SWITCHBOARD_SECRET_KEY": "test-secret-key-for-media-links",
        "PUBLIC_BASE_URL": "https://gw.example",
    }
    if sendgrid is not None:
        values["SENDGRID_API_KEY"] = sendgrid.api_key
        values["SENDGRID_API_URL"] = sendgrid.url
    values.update(overrides)
    return values


async def seed(db: Database) -> Seeded:
    async with db.session() as session:
        return await seed_workspace(session, now=utcnow() - timedelta(minutes=1))


@dataclass
class Mailroom:
    """Posting to /email/inbound as SendGrid does, and watching what the gateway did."""

    client: Client
    db: Database

    @property
    def gateway(self) -> Gateway:
        return self.client.server.app[GATEWAY]

    async def post(self, post: Post, *, auth: dict[str, str] | None = None) -> tuple[int, Any]:
        response = await self.client.post(
            "/email/inbound", data=io.BytesIO(post.body), headers=post.headers(auth)
        )
        try:
            body: Any = await response.json()
        except ValueError:
            body = await response.text()
        return response.status, (body, dict(response.headers))

    async def deliver(self, post: Post) -> dict[str, Any]:
        status, (body, _) = await self.post(post)
        assert status == 200, body
        assert isinstance(body, dict)
        return body

    async def settled(self) -> None:
        """Every task finished and every email in a final delivery state."""
        await settled(self.db)


async def stored_rows(db: Database) -> dict[str, int]:
    """Row counts a refused post must leave unchanged."""
    counts = await count_rows(db)
    async with db.session() as session:
        for name, model in (("email_records", EmailRecord), ("media", MediaObject)):
            counts[name] = int(await session.scalar(select(func.count()).select_from(model)) or 0)
    return counts


async def start(
    make_client: ClientFactory,
    db: Database,
    *,
    build: dict[str, Any] | None = None,
    **settings: Any,
) -> Mailroom:
    client = await make_client(build=build, **settings)
    return Mailroom(client, db)


# ---------------------------------------------------------------------------- SMTP


@dataclass
class SmtpServer:
    """A local SMTP server (aiosmtpd) that keeps what it receives; REFUSE makes RCPT TO fail."""

    host: str = "127.0.0.1"
    port: int = 0
    received: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)  # address -> SMTP reply
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.lower() in self.refuse:
            return self.refuse[address.lower()]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or envelope.content
        assert isinstance(data, bytes)
        message = message_from_bytes(data, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append((str(envelope.mail_from), list(envelope.rcpt_tos), message))
        self.arrived.set()
        return "250 Message accepted for delivery"


@asynccontextmanager
async def smtp_server() -> AsyncIterator[SmtpServer]:
    handler = SmtpServer()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="smtp.test", decode_data=False),
        handler.host,
        0,
    )
    handler.port = server.sockets[0].getsockname()[1]
    try:
        yield handler
    finally:
        server.close()
        await server.wait_closed()
