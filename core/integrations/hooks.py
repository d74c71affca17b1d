"""What connecting or removing an account does at the provider besides storing it: the
telephony lines register their webhook there (Dialpad, Aircall, Quo, RingCentral) and remove
it again, or say where to paste it (Twilio, Vonage). Each provider's module in
`core/integrations/lines/` answers for its own.

These functions call the provider and only change the account object they are given (its
`state`): `core.integrations.manage` hands them a copy held in no session, so that no
transaction is open while a provider answers, and writes the outcome back in a short one."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession

from core.integrations.accounts import credentials_of
from core.integrations.lines import REGISTERED, connect_line
from core.integrations.lines.common import TIMEOUT, LineSetupError, Setup
from core.integrations.providers import PROVIDERS
from core.integrations.vault import Vault
from storage.integrations import IntegrationAccount

# The state keys of the set-up itself (the rest is what the provider handed back).
REGISTERING = "registering"  # the token of the registration under way
REGISTERING_AT = "registering_at"
SETUP_FAILED = "setup_failed"  # the last registration failed: saving the line tries again
WARNING = "warning"
WARNING_AT = "warning_at"
OWN_KEYS = frozenset({REGISTERING, REGISTERING_AT, SETUP_FAILED, WARNING, WARNING_AT})

RETRY = " To try again, correct the line's settings if needed and save it (Edit, then Save)."


def registers(provider: str) -> bool:
    """Whether PROVIDER's lines register their webhook through the provider's API."""
    return provider in REGISTERED


def at_provider(state: Mapping[str, Any] | None) -> dict[str, Any]:
    """What of a line's STATE stands for something registered at the provider (webhook and
    subscription ids, their sealed secrets); {} when nothing is."""
    return {k: v for k, v in (state or {}).items() if k not in OWN_KEYS}


async def register(
    vault: Vault, account: IntegrationAccount, *, base_url: str | None, now: datetime
) -> str | None:
    """Set ACCOUNT up at its provider, starting from an empty `state`; a sentence for the
    member when something needs their attention (the webhook URL to paste, a registration
    that failed), None otherwise. A failed registration leaves `state` with the warning, the
    `SETUP_FAILED` mark, and whatever the provider had already made (so it can be undone)."""
    spec = PROVIDERS.get(account.provider)
    if spec is None or spec.kind != "telephony":
        return None
    account.state = {}
    sentence = await connect_line(vault, account, base_url=base_url, now=now)
    state = dict(account.state or {})
    if registers(account.provider) and (base_url is None or WARNING in state):
        said = sentence or "The webhook could not be registered at the provider."
        state.setdefault(WARNING, said)
        state.setdefault(WARNING_AT, now.isoformat())
        state[WARNING] = f"{state[WARNING]}{RETRY}"
        state[SETUP_FAILED] = True
        account.state = state
        return f"{said}{RETRY}"
    return sentence


async def undo(vault: Vault, account: IntegrationAccount) -> str | None:
    """Take down at the provider what ACCOUNT's `state` says is registered there; None when
    done (or when nothing was), else a sentence saying what is left behind and what to do."""
    steps = REGISTERED.get(account.provider)
    if steps is None or not at_provider(account.state):
        return None
    title = PROVIDERS[account.provider].title
    setup = Setup(
        account=account, credentials=credentials_of(vault, account), vault=vault, webhook_url=""
    )
    try:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            await steps[1](http, setup)
    except LineSetupError as exc:
        return (
            f"{title} could not delete the line's webhook ({exc}), so it may still be "
            f"registered there: delete it in {title} yourself. Its events are refused here."
        )
    return None


async def after_connect(
    session: AsyncSession,
    vault: Vault,
    account: IntegrationAccount,
    *,
    base_url: str | None,
    now: datetime,
) -> str | None:
    """`register` for callers holding the account in SESSION (its state saved with it)."""
    return await register(vault, account, base_url=base_url, now=now)


async def before_remove(
    session: AsyncSession, vault: Vault, account: IntegrationAccount, *, now: datetime
) -> None:
    """`undo` for callers that delete the account whatever the provider answers."""
    await undo(vault, account)
