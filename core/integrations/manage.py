"""What the admin API and the console both do with an account, in one place: connect it and
run its set-up at the provider, test it (the provider called outside any transaction, the
result stored), change it, remove it after undoing its set-up. Each opens its own
transaction; bad input raises the directory's errors and stores nothing; a missing
SWITCHBOARD_SECRET_KEY raises `VaultError` before anything is read or written."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from config import Settings
from core.integrations import accounts, hooks
from core.integrations.checks import check
from core.integrations.lines import renew_line
from core.integrations.providers import PROVIDERS
from core.integrations.vault import Vault, vault_of
from core.team.directory import DirectoryError
from storage.db import Database
from storage.integrations import IntegrationAccount

# The lines whose provider cannot register our webhook through its API: the member pastes it.
PASTE_WEBHOOK = frozenset({"twilio", "vonage"})


def webhook_path(provider: str, account_id: str) -> str | None:
    """Where a telephony line's provider posts its events; None for a help desk."""
    if PROVIDERS[provider].kind != "telephony":
        return None
    return f"/telephony/{provider}/{account_id}"


def webhook_url(settings: Settings, provider: str, account_id: str) -> str | None:
    """The full webhook URL under PUBLIC_BASE_URL (else the address the gateway listens on)."""
    path = webhook_path(provider, account_id)
    return None if path is None else f"{settings.base_url}{path}"


def shown(settings: Settings, account: IntegrationAccount) -> dict[str, Any]:
    """The account as the API answers it: `account_json` plus, for a line, its webhook URL."""
    body = accounts.account_json(account)
    body["kind"] = PROVIDERS[account.provider].kind
    body["webhook_url"] = webhook_url(settings, account.provider, account.id)
    return body


@dataclass(frozen=True)
class Connected:
    account: dict[str, Any]
    # A sentence from the provider's set-up for the member (the URL to paste, a failure).
    notice: str | None


async def connect(
    db: Database,
    settings: Settings,
    workspace_id: str,
    *,
    provider: object,
    label: object,
    credentials: object,
    actor: str,
    now: datetime,
) -> Connected:
    vault = vault_of(settings)
    base_url = str(settings.public_base_url).rstrip("/") if settings.public_base_url else None
    async with db.writing(), db.session() as session:
        account = await accounts.connect(
            session,
            vault,
            workspace_id,
            provider=provider,
            label=label,
            credentials=credentials,
            actor=actor,
            now=now,
        )
        notice = await hooks.after_connect(session, vault, account, base_url=base_url, now=now)
        await session.flush()
        return Connected(shown(settings, account), notice)


async def change(
    db: Database,
    settings: Settings,
    workspace_id: str,
    account_id: str,
    *,
    label: object = None,
    enabled: object = None,
    credentials: object = None,
    actor: str,
    now: datetime,
) -> dict[str, Any]:
    async with db.writing(), db.session() as session:
        account = await accounts.get_account(session, workspace_id, account_id)
        vault = vault_of(settings)  # after the lookup: another workspace's id is a 404
        await accounts.update(
            session,
            vault,
            account,
            label=label,
            enabled=enabled,
            credentials=credentials,
            actor=actor,
            now=now,
        )
        await session.flush()
        return shown(settings, account)


async def remove(
    db: Database,
    settings: Settings,
    workspace_id: str,
    account_id: str,
    *,
    actor: str,
    now: datetime,
) -> str:
    """Remove the account (its provider set-up undone first); its label, for the message."""
    async with db.writing(), db.session() as session:
        account = await accounts.get_account(session, workspace_id, account_id)
        vault = vault_of(settings)
        label = account.label
        await hooks.before_remove(session, vault, account, now=now)
        await accounts.remove(session, account, actor=actor)
    return label


async def run_check(
    db: Database, settings: Settings, workspace_id: str, account_id: str, *, now: datetime
) -> tuple[bool, str]:
    """Call the provider with the account's credentials and keep the result on the account.
    No transaction is held while the provider answers (up to the check's timeout)."""
    async with db.session() as session:
        account = await accounts.get_account(session, workspace_id, account_id)
        vault = vault_of(settings)
        provider = account.provider
        credentials = accounts.credentials_of(vault, account)
    ok, message = await check(provider, credentials)
    del credentials
    async with db.writing(), db.session() as session:
        # The account may have been removed meanwhile: then the result has nowhere to go.
        account = await accounts.get_account(session, workspace_id, account_id)
        account.last_test_at = now
        account.last_test_ok = ok
        account.last_test_message = message[:500]
    return ok, message


async def rotate_credentials(db: Database, vault: Vault) -> int:
    """Re-encrypt every stored account's credentials under the current secret, so that the
    previous one can be dropped; how many were rewritten. The one query that spans
    workspaces: the secret is the server's, not a workspace's. Raises VaultError (nothing
    changed) when a value opens under none of the configured secrets."""
    async with db.writing(), db.session() as session:
        rows = list(await session.scalars(select(IntegrationAccount).with_for_update()))
        for row in rows:
            row.credentials = vault.rotate(row.credentials)
    return len(rows)


async def renew(
    db: Database, settings: Settings, workspace_id: str, account_id: str, *, now: datetime
) -> str | None:
    """Renew a RingCentral line's webhook subscription by hand: None when renewed, else the
    warning kept on the line. Raises NotFound (another workspace's or no account),
    DirectoryError (not a RingCentral line), VaultError (no secret). Like the scheduler's
    renewal, no write lock is held while RingCentral answers."""
    async with db.session() as session:
        account = await accounts.get_account(session, workspace_id, account_id)
        if account.provider != "ringcentral":
            raise DirectoryError(f"{account.label} has no subscription to renew")
        vault = vault_of(settings)
        return await renew_line(vault, account, now=now)
