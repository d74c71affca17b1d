"""The Twilio messaging channel under test: the whole gateway pointed at the Twilio simulator,
and webhooks signed exactly as Twilio signs them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from api.state import GATEWAY, Gateway
from core.team.identity import Principal
from models.classification import Classification
from storage.db import Database
from storage.models import OptOut
from tests.api import count_rows
from tests.helpers import settled, wait_until
from tests.sims.twilio import TwilioSim, message_webhook, twilio_signature

Client = TestClient[Any, Any]
ClientFactory = Callable[..., Awaitable[Client]]

PUBLIC_BASE_URL = "https://gw.example"
OUR_NUMBER = "+15550009999"
OUR_WHATSAPP = f"whatsapp:{OUR_NUMBER}"
TEMPLATE_SID = "HX" + "a" * 32
TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response />'


class EchoClassifier:
    """Answers every member in one short line, so one request is one message."""

    async def classify(self, text: str, principal: Principal, now: datetime) -> Classification:
        return Classification(reply=f"You said: {text}")


ECHO = {"classifier": EchoClassifier()}


def twilio_settings(sim: TwilioSim, **overrides: Any) -> dict[str, Any]:
    return {
        "TWILIO_ACCOUNT_SID": sim.account_sid,
        "TWILIO_AUTH_TOKEN": sim.auth_token,
        "TWILIO_API_URL": sim.url,
        "TWILIO_SMS_FROM": OUR_NUMBER,
        "TWILIO_WHATSAPP_FROM": OUR_WHATSAPP,
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "SWITCHBOARD_SECRET_KEY": "test-secret-key-for-media-links",
        **overrides,
    }


@dataclass
class Phone:
    """Texting the gateway as Twilio delivers messages, and reading what it sent back."""

    client: Client
    sim: TwilioSim

    @property
    def gateway(self) -> Gateway:
        return self.client.server.app[GATEWAY]

    def params(self, from_: str, body: str, **kwargs: Any) -> dict[str, str]:
        to = OUR_WHATSAPP if from_.startswith("whatsapp:") else OUR_NUMBER
        return message_webhook(
            account_sid=self.sim.account_sid,
            from_=from_,
            to=kwargs.pop("to", to),
            body=body,
            **kwargs,
        )

    async def post(
        self,
        path: str,
        params: dict[str, str],
        *,
        signature: str | None = None,
        signed_url: str | None = None,
    ) -> tuple[int, str]:
        """POST a form to PATH signed for SIGNED_URL (default: PUBLIC_BASE_URL + PATH)."""
        if signature is None:
            url = signed_url or PUBLIC_BASE_URL + path
            signature = twilio_signature(self.sim.auth_token, url, params)
        headers = {"X-Twilio-Signature": signature} if signature else {}
        response = await self.client.post(path, data=params, headers=headers)
        return response.status, await response.text()

    async def text(self, from_: str, body: str, **kwargs: Any) -> dict[str, str]:
        """Send one message to the webhook; returns its form (its MessageSid to redeliver)."""
        params = self.params(from_, body, **kwargs)
        await self.deliver(params)
        return params

    async def deliver(self, params: dict[str, str]) -> None:
        status, text = await self.post("/twilio/sms", params)
        assert (status, text) == (200, TWIML_EMPTY), text

    async def replies(self, to: str, count: int = 1, timeout: float = 10.0) -> list[str]:  # noqa: ASYNC109
        """Bodies of the messages sent to TO, once there are at least COUNT."""

        def arrived() -> list[str] | None:
            sent = self.sim.sent(to=to)
            return [m["body"] for m in sent] if len(sent) >= count else None

        return await wait_until(arrived, timeout=timeout, message=f"{count} message(s) to {to}")

    async def settled(self, db: Database) -> None:
        """Every task finished and every reply in a final delivery state."""
        await settled(db)


async def start(
    make_client: ClientFactory,
    sim: TwilioSim,
    *,
    build: dict[str, Any] | None = None,
    **settings: Any,
) -> Phone:
    client = await make_client(build=build, **twilio_settings(sim, **settings))
    return Phone(client, sim)


async def stored_rows(db: Database) -> dict[str, int]:
    """Row counts a refused webhook must leave unchanged."""
    counts = await count_rows(db)
    async with db.session() as session:
        counts["opt_outs"] = int(
            await session.scalar(select(func.count()).select_from(OptOut)) or 0
        )
    return counts
