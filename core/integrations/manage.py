"""What the admin API and the console both do with an account, in one place: connect it and
run its set-up at the provider, test it, change it, remove it after undoing its set-up. Bad
input raises the directory's errors and stores nothing; a missing SWITCHBOARD_SECRET_KEY
raises `VaultError` before anything is written.

No transaction is open while a provider answers (a webhook registration can take seconds,
and SQLite has one writer): each operation reads or writes in short transactions around the
call, the provider's work done on a copy of the account held in no session (`_draft`). A
line's registration is claimed on the row with a token, and only the registration still
holding it writes its outcome; one that lost its row (removed meanwhile) or its claim undoes
what it registered, so nothing stays at the provider that no row remembers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from config import Settings
from core.integrations import accounts, hooks
from core.integrations.checks import check
from core.integrations.lines import renew_line
from core.integrations.providers import PROVIDERS
from core.integrations.vault import Vault, vault_of
from core.team.directory import Conflict, DirectoryError, NotFound
from storage.db import Database
from storage.integrations import IntegrationAccount
from storage.types import utcnow

# The lines whose provider cannot register our webhook through its API: the member pastes it.
PASTE_WEBHOOK = frozenset({"twilio", "vonage"})
# A registration still marked under way after this long never finished: saving retries it.
STALE = timedelta(minutes=5)


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
    """The account as the API answers it: `account_json` plus, for a line, its webhook URL
    and its set-up's warning."""
    body = accounts.account_json(account)
    body["kind"] = PROVIDERS[account.provider].kind
    body["webhook_url"] = webhook_url(settings, account.provider, account.id)
    # For a line: why its provider's set-up does not work (None when it does).
    body["warning"] = setup_warning(account, utcnow())
    return body


def setup_warning(account: IntegrationAccount, now: datetime) -> str | None:
    """Why the line's set-up at its provider does not work: the warning its registration or
    renewal left, or a registration that never finished; None when it works."""
    state = account.state or {}
    warning = state.get(hooks.WARNING)
    if warning:
        return str(warning)
    if _stale(account, now):
        return (
            "The webhook registration did not finish (the gateway stopped meanwhile), so "
            f"voicemails may not arrive.{hooks.RETRY}"
        )
    return None


def _stale(account: IntegrationAccount, now: datetime) -> bool:
    started = (account.state or {}).get(hooks.REGISTERING_AT)
    return isinstance(started, str) and now - datetime.fromisoformat(started) > STALE


@dataclass(frozen=True)
class Connected:
    account: dict[str, Any]
    # A sentence from the provider's set-up for the member (the URL to paste, a failure).
    notice: str | None


@dataclass(frozen=True)
class Removed:
    label: str
    # Set when the provider could not undo the line's set-up: what is left there, what to do.
    notice: str | None


def _draft(account: IntegrationAccount) -> IntegrationAccount:
    """A copy of ACCOUNT in no session, for the provider's set-up to work on while no
    transaction is open; what it sets in `state` is written back in a short one."""
    return IntegrationAccount(
        id=account.id,
        workspace_id=account.workspace_id,
        provider=account.provider,
        label=account.label,
        enabled=account.enabled,
        credentials=account.credentials,
        masked=dict(account.masked or {}),
        state=dict(account.state or {}),
        last_test_at=account.last_test_at,
        last_test_ok=account.last_test_ok,
        last_test_message=account.last_test_message,
        created_by=account.created_by,
        created_at=account.created_at,
        updated_at=account.updated_at,
    )


def _claim(account: IntegrationAccount, now: datetime) -> str:
    """Mark ACCOUNT's registration as under way (in the caller's transaction); its token.
    Only the registration holding the token still on the row may write its outcome."""
    token = uuid.uuid4().hex
    account.state = {
        **(account.state or {}),
        hooks.REGISTERING: token,
        hooks.REGISTERING_AT: now.isoformat(),
    }
    return token


def _needs_setup(account: IntegrationAccount, now: datetime) -> bool:
    """A line whose registration failed, or never finished (the gateway stopped meanwhile)."""
    if not hooks.registers(account.provider):
        return False
    state = account.state or {}
    return bool(state.get(hooks.SETUP_FAILED)) or _stale(account, now)


def _joined(*sentences: str | None) -> str | None:
    said = " ".join(s for s in sentences if s)
    return said or None


@dataclass(frozen=True)
class _Outcome:
    kept: bool  # the provider's answer is on the row
    gone: bool  # the account was removed meanwhile
    notice: str | None


async def _set_up(
    db: Database,
    settings: Settings,
    vault: Vault,
    draft: IntegrationAccount,
    token: str,
    *,
    now: datetime,
) -> _Outcome:
    """Register DRAFT's webhook at its provider with no transaction open, then write the
    outcome onto the row in a short one, if the row still holds TOKEN. Otherwise (removed,
    or another registration took over meanwhile) what was just registered is undone again,
    so nothing is left at the provider that no row remembers."""
    base_url = str(settings.public_base_url).rstrip("/") if settings.public_base_url else None
    earlier = hooks.at_provider(draft.state)
    left = None
    if earlier:  # what a failed attempt had already made: undone before trying again
        draft.state = earlier
        left = await hooks.undo(vault, draft)
    notice = await hooks.register(vault, draft, base_url=base_url, now=now)
    async with db.writing(), db.session() as session:
        row = await session.get(IntegrationAccount, draft.id, with_for_update=True)
        kept = row is not None and (row.state or {}).get(hooks.REGISTERING) == token
        if row is not None and kept:
            row.state = dict(draft.state or {})
    if kept:
        return _Outcome(True, False, _joined(left, notice))
    return _Outcome(False, row is None, _joined(left, await hooks.undo(vault, draft)))


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
    """Store the account (checked, sealed) in a short transaction; for a line, set it up at
    its provider with no transaction open and keep the outcome. A registration that fails
    leaves the line saved with its warning (`SETUP_FAILED`: saving it tries again).

    Raises:
        DirectoryError: bad input; nothing is stored.
        Conflict: the line was removed while its webhook was being registered (which is
            then deleted at the provider again).
        VaultError: no SWITCHBOARD_SECRET_KEY; nothing is stored.
    """
    vault = vault_of(settings)
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
        token = _claim(account, now) if PROVIDERS[account.provider].kind == "telephony" else None
        await session.flush()
        draft = _draft(account)
    if token is None:
        return Connected(shown(settings, draft), None)
    done = await _set_up(db, settings, vault, draft, token, now=now)
    if done.gone:
        raise Conflict(
            f"{draft.label} was removed while its webhook was being registered"
            + (f"; {done.notice}" if done.notice else "; nothing is left registered")
        )
    return Connected(shown(settings, draft), done.notice)


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
    """Change what is given. Saving a line whose registration failed (or never finished)
    registers it again, the provider called with no transaction open."""
    token = None
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
        if _needs_setup(account, now):
            token = _claim(account, now)
        await session.flush()
        draft = _draft(account)
    if token is None:
        return shown(settings, draft)
    done = await _set_up(db, settings, vault, draft, token, now=now)
    if done.gone:
        raise NotFound(f"integration {account_id} was removed meanwhile")
    if not done.kept:  # another registration took over: show the row as it is now
        async with db.session() as session:
            draft = await accounts.get_account(session, workspace_id, account_id)
    return shown(settings, draft)


async def remove(
    db: Database,
    settings: Settings,
    workspace_id: str,
    account_id: str,
    *,
    actor: str,
    now: datetime,
) -> Removed:
    """Undo the account's set-up at the provider (no transaction open), then delete it in a
    short one. The account goes even when the provider fails; `notice` then says what may
    be left there. A registration finishing meanwhile is undone too: by its own connect when
    the row is already gone, or here when it wrote its webhook before the row was deleted."""
    async with db.session() as session:
        account = await accounts.get_account(session, workspace_id, account_id)
        vault = vault_of(settings)
        draft = _draft(account)
    undone = hooks.at_provider(draft.state)
    left = await hooks.undo(vault, draft)
    async with db.writing(), db.session() as session:
        row = await session.get(IntegrationAccount, account_id, with_for_update=True)
        if row is None or row.workspace_id != workspace_id:
            raise NotFound(f"integration {account_id} not found")
        final = dict(row.state or {})
        await accounts.remove(session, row, actor=actor)
    if hooks.at_provider(final) != undone:
        draft.state = final
        left = _joined(left, await hooks.undo(vault, draft))
    return Removed(draft.label, left)


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
        draft = _draft(account)
    before = dict(draft.state or {})
    warning = await renew_line(vault, draft, now=now)
    async with db.writing(), db.session() as session:
        # Removed meanwhile: nothing to keep. Changed meanwhile (another renewal, a
        # registration): the row's own state stands.
        row = await session.get(IntegrationAccount, account_id, with_for_update=True)
        if row is not None and dict(row.state or {}) == before:
            row.state = dict(draft.state or {})
    return warning
