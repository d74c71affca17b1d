"""What connecting or removing an account does at the provider besides storing it: the
telephony lines register their webhook there (Dialpad, Aircall, Quo, RingCentral) and remove
it again, or say where to paste it (Twilio, Vonage). The console and the admin API call these
in the request that connects or removes the account; each provider's module in
`core/integrations/lines/` answers for its own."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from core.integrations.lines import connect_line, remove_line
from core.integrations.providers import PROVIDERS
from core.integrations.vault import Vault
from storage.integrations import IntegrationAccount


async def after_connect(
    session: AsyncSession,
    vault: Vault,
    account: IntegrationAccount,
    *,
    base_url: str | None,
    now: datetime,
) -> str | None:
    """Set ACCOUNT up at its provider; a sentence for the member when something needs their
    attention (the webhook URL to paste, a registration that failed), None otherwise. What
    the provider hands back (webhook ids, sealed secrets) lands in `account.state`, saved
    with the caller's transaction."""
    spec = PROVIDERS.get(account.provider)
    if spec is None or spec.kind != "telephony":
        return None
    return await connect_line(vault, account, base_url=base_url, now=now)


async def before_remove(
    session: AsyncSession, vault: Vault, account: IntegrationAccount, *, now: datetime
) -> None:
    """Undo at the provider what `after_connect` set up (best effort: the account goes)."""
    spec = PROVIDERS.get(account.provider)
    if spec is None or spec.kind != "telephony":
        return
    await remove_line(vault, account)
