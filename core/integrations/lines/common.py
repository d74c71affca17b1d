"""What every telephony line's set-up shares: the webhook URL the provider calls, the secrets
a provider hands back when the webhook is registered (kept sealed by the vault in the
account's state, never in clear), and one JSON call to a provider's REST API with its errors
turned into a sentence for the member."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from core.integrations.vault import Vault
from storage.integrations import IntegrationAccount

TIMEOUT = aiohttp.ClientTimeout(total=15)
SEALED = "sealed"  # the state key holding the vault token of the line's webhook secrets


class LineSetupError(Exception):
    """The provider refused or could not be reached; the message says so for the member."""


@dataclass(frozen=True, slots=True)
class Setup:
    """What a provider's set-up works with: the account, its credentials in clear (for the
    calls only), the vault that seals what the provider hands back, and the webhook URL."""

    account: IntegrationAccount
    credentials: Mapping[str, str]
    vault: Vault
    webhook_url: str

    def api(self, default: str) -> str:
        return (self.credentials.get("api_url") or default).rstrip("/")


def webhook_url(base_url: str, account: IntegrationAccount) -> str:
    """DESIGN's `POST /telephony/{provider}/{integration_id}` under BASE_URL."""
    return f"{base_url.rstrip('/')}/telephony/{account.provider}/{account.id}"


def line_secrets(vault: Vault, account: IntegrationAccount) -> dict[str, str]:
    """The secrets the provider handed back when the webhook was registered ({} if none)."""
    token = (account.state or {}).get(SEALED)
    if not token:
        return {}
    return {str(k): str(v) for k, v in vault.open(str(token)).items()}


def set_state(
    account: IntegrationAccount,
    vault: Vault,
    secrets: Mapping[str, str] | None = None,
    **values: Any,
) -> None:
    """Replace the account's state by VALUES, with SECRETS sealed (a new dict: the JSON
    column sees the change)."""
    state = {k: v for k, v in values.items() if v is not None}
    if secrets:
        state[SEALED] = vault.seal(dict(secrets))
    account.state = state


async def call(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    title: str,
    json: Any = None,
    headers: Mapping[str, str] | None = None,
    data: Any = None,
) -> Any:
    """One REST call; its JSON answer (None for an empty one).

    Raises:
        LineSetupError: an error status, an unreadable answer, or no answer at all.
    """
    try:
        async with http.request(method, url, json=json, headers=headers, data=data) as response:
            body = await response.read()
            if response.status >= 400:
                detail = body.decode("utf-8", "replace")[:200]
                raise LineSetupError(f"{title} answered {response.status}: {detail}")
            if not body.strip():
                return None
            try:
                return await response.json(content_type=None)
            except ValueError as exc:
                raise LineSetupError(f"{title} sent an answer that is not JSON") from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise LineSetupError(f"{title} could not be reached: {type(exc).__name__}") from exc
