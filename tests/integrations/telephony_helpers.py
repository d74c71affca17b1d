"""The telephony lines under test: the whole gateway in-process, a line connected the way the
accounts API connects one (stored, then `after_connect` at the provider's simulator), and
what a member would check afterwards: the inbox's assists and the rows stored."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from api.state import GATEWAY, Gateway
from core.integrations import accounts, hooks
from core.integrations.vault import vault_of
from storage.domain import Assist, AssistEvent, Customer
from storage.integrations import IntegrationAccount, TelephonyEvent
from storage.types import utcnow
from tests.factories import make_tenant

Client = TestClient[Any, Any]
ClientFactory = Callable[..., Awaitable[Client]]

PUBLIC_BASE_URL = "https://gw.example"
SECRET_KEY = "telephony-tests-secret-key"


async def gateway_client(make_client: ClientFactory, **overrides: Any) -> Client:
    return await make_client(
        PUBLIC_BASE_URL=PUBLIC_BASE_URL, SWITCHBOARD_SECRET_KEY=SECRET_KEY, **overrides
    )


@dataclass
class Line:
    client: Client
    workspace_id: str
    account_id: str
    provider: str
    sentence: str | None

    @property
    def gateway(self) -> Gateway:
        return self.client.server.app[GATEWAY]

    @property
    def path(self) -> str:
        return f"/telephony/{self.provider}/{self.account_id}"

    @property
    def url(self) -> str:
        return PUBLIC_BASE_URL + self.path

    async def account(self) -> IntegrationAccount:
        async with self.gateway.db.session() as session:
            account = await session.get(IntegrationAccount, self.account_id)
        assert account is not None
        return account

    async def set_enabled(self, enabled: bool) -> None:
        async with self.gateway.db.session() as session:
            account = await session.get(IntegrationAccount, self.account_id)
            assert account is not None
            account.enabled = enabled

    async def remove(self) -> None:
        """Remove the line as the accounts API does: the provider's side first."""
        vault = vault_of(self.gateway.settings)
        async with self.gateway.db.session() as session:
            account = await session.get(IntegrationAccount, self.account_id)
            assert account is not None
            await hooks.before_remove(session, vault, account, now=utcnow())
            await accounts.remove(session, account, actor="test")


async def connect_line(
    client: Client,
    provider: str,
    credentials: dict[str, str],
    *,
    label: str,
    workspace_id: str | None = None,
) -> Line:
    gateway: Gateway = client.server.app[GATEWAY]
    if workspace_id is None:
        workspace_id = (await make_tenant(gateway.db)).workspace_id
    vault = vault_of(gateway.settings)
    async with gateway.db.session() as session:
        account = await accounts.connect(
            session,
            vault,
            workspace_id,
            provider=provider,
            label=label,
            credentials=credentials,
            actor="test",
            now=utcnow(),
        )
        sentence = await hooks.after_connect(
            session, vault, account, base_url=gateway.settings.base_url, now=utcnow()
        )
        account_id = account.id
    return Line(client, workspace_id, account_id, provider, sentence)


async def assists_of(line: Line) -> list[Assist]:
    async with line.gateway.db.session() as session:
        return list(
            await session.scalars(
                select(Assist)
                .where(Assist.workspace_id == line.workspace_id)
                .order_by(Assist.number)
            )
        )


async def stored(line: Line) -> dict[str, int]:
    """The rows a webhook could add."""
    async with line.gateway.db.session() as session:
        return {
            name: int(await session.scalar(select(func.count()).select_from(model)) or 0)
            for name, model in (
                ("assists", Assist),
                ("telephony_events", TelephonyEvent),
                ("customers", Customer),
                ("assist_events", AssistEvent),
            )
        }
