"""Connected provider accounts: connect (credentials checked against the provider's fields,
sealed by the vault, shown back only masked), list, change (label, enabled, credentials),
remove. Functions take the session and never commit; bad input raises the directory's errors
(`DirectoryError` 400, `NotFound` 404) and changes nothing. Credentials leave this module only
through `credentials_of`, for the code that calls the provider: never into replies, pages,
logs or the LLM's context."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.integrations.providers import PROVIDERS, Provider, fields_of
from core.integrations.vault import Vault, mask
from core.team.directory import DirectoryError, NotFound, audit
from storage.integrations import IntegrationAccount

LABEL_MAX = 120
VALUE_MAX = 8000  # a private key in PEM fits


def provider_of(name: object) -> Provider:
    if not isinstance(name, str) or name.strip().lower() not in PROVIDERS:
        raise DirectoryError(
            f"unknown provider {name!r}: use one of {', '.join(sorted(PROVIDERS))}"
        )
    return PROVIDERS[name.strip().lower()]


def _label(value: object, provider: Provider) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        return provider.title
    if not isinstance(value, str):
        raise DirectoryError("label must be text")
    label = " ".join(value.split())
    if len(label) > LABEL_MAX:
        raise DirectoryError(f"a label is at most {LABEL_MAX} characters")
    return label


def checked_credentials(provider: Provider, given: object) -> dict[str, str]:
    """GIVEN as PROVIDER's credentials: every required field, no unknown one, text only."""
    if not isinstance(given, Mapping):
        raise DirectoryError("credentials must be an object of the provider's fields")
    known = {f.name: f for f in fields_of(provider)}
    unknown = sorted(str(k) for k in given if k not in known)
    if unknown:
        raise DirectoryError(f"{provider.title} takes {', '.join(known)}; not {', '.join(unknown)}")
    values: dict[str, str] = {}
    for name, field in known.items():
        raw = given.get(name)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if field.required:
                raise DirectoryError(f"{provider.title} needs {name} ({field.title})")
            continue
        if not isinstance(raw, str):
            raise DirectoryError(f"{name} must be text")
        value = raw.strip() if not field.multiline else raw.strip("\n")
        if len(value) > VALUE_MAX:
            raise DirectoryError(f"{name} is too long")
        if field.choices and value not in field.choices:
            raise DirectoryError(f"{name} is one of {', '.join(field.choices)}")
        values[name] = value
    url = values.get("api_url")
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise DirectoryError("api_url must be an http(s) URL")
    return values


def masked(provider: Provider, credentials: Mapping[str, str]) -> dict[str, str]:
    """What may be shown of CREDENTIALS: plain fields as they are, secrets masked."""
    shown = {}
    for field in fields_of(provider):
        if field.name in credentials:
            value = credentials[field.name]
            shown[field.name] = mask(value) if field.secret else value
    return shown


async def connect(
    session: AsyncSession,
    vault: Vault,
    workspace_id: str,
    *,
    provider: object,
    label: object,
    credentials: object,
    actor: str,
    now: datetime,
) -> IntegrationAccount:
    spec = provider_of(provider)
    values = checked_credentials(spec, credentials)
    account = IntegrationAccount(
        workspace_id=workspace_id,
        provider=spec.name,
        label=_label(label, spec),
        enabled=True,
        credentials=vault.seal(values),
        masked=masked(spec, values),
        state={},
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    session.add(account)
    await session.flush()
    # The audit names the provider and label only: never a credential.
    await audit(
        session,
        workspace_id,
        actor,
        "integration.connect",
        account.id,
        {"provider": spec.name, "label": account.label},
    )
    return account


async def list_accounts(
    session: AsyncSession, workspace_id: str, *, provider: str | None = None
) -> list[IntegrationAccount]:
    query = select(IntegrationAccount).where(IntegrationAccount.workspace_id == workspace_id)
    if provider is not None:
        query = query.where(IntegrationAccount.provider == provider)
    return list(
        await session.scalars(
            query.order_by(IntegrationAccount.provider, IntegrationAccount.created_at)
        )
    )


async def get_account(
    session: AsyncSession, workspace_id: str, account_id: str
) -> IntegrationAccount:
    account = await session.get(IntegrationAccount, account_id)
    if account is None or account.workspace_id != workspace_id:
        raise NotFound(f"integration {account_id} not found")
    return account


async def update(
    session: AsyncSession,
    vault: Vault,
    account: IntegrationAccount,
    *,
    label: object = None,
    enabled: object = None,
    credentials: object = None,
    actor: str,
    now: datetime,
) -> IntegrationAccount:
    """Change what is given. CREDENTIALS given replace the stored ones field by field: a
    secret left out (or blank) keeps its saved value, so a form never has to show it."""
    spec = provider_of(account.provider)
    if enabled is not None and not isinstance(enabled, bool):
        raise DirectoryError("enabled must be true or false")
    new_label = _label(label, spec) if label is not None else None
    sealed = None
    if credentials is not None:
        if not isinstance(credentials, Mapping):
            raise DirectoryError("credentials must be an object of the provider's fields")
        merged = dict(vault.open(account.credentials))
        merged.update(
            {k: v for k, v in credentials.items() if not (isinstance(v, str) and not v.strip())}
        )
        values = checked_credentials(spec, merged)
        sealed = (vault.seal(values), masked(spec, values))
    changed = []
    if new_label is not None and new_label != account.label:
        account.label = new_label
        changed.append("label")
    if enabled is not None and enabled != account.enabled:
        account.enabled = enabled
        changed.append("enabled")
    if sealed is not None:
        account.credentials, account.masked = sealed
        account.last_test_at = account.last_test_ok = account.last_test_message = None
        changed.append("credentials")
    if changed:
        account.updated_at = now
        await audit(
            session,
            account.workspace_id,
            actor,
            "integration.update",
            account.id,
            {"changed": changed, "enabled": account.enabled},
        )
    return account


async def remove(session: AsyncSession, account: IntegrationAccount, *, actor: str) -> None:
    await audit(
        session,
        account.workspace_id,
        actor,
        "integration.remove",
        account.id,
        {"provider": account.provider, "label": account.label},
    )
    await session.delete(account)


def credentials_of(vault: Vault, account: IntegrationAccount) -> dict[str, str]:
    """The account's credentials in clear, for the call to the provider only."""
    return {str(k): str(v) for k, v in vault.open(account.credentials).items()}


def account_json(account: IntegrationAccount) -> dict[str, Any]:
    """The account as the API and the console show it: never its credentials, only
    `settings` (the plain fields and the secrets masked)."""
    return {
        "id": account.id,
        "provider": account.provider,
        "label": account.label,
        "enabled": account.enabled,
        "settings": dict(account.masked or {}),
        "last_test": (
            {
                "ok": account.last_test_ok,
                "message": account.last_test_message,
                "at": account.last_test_at.isoformat(),
            }
            if account.last_test_at
            else None
        ),
        "created_at": account.created_at.isoformat(),
        "updated_at": account.updated_at.isoformat(),
    }
