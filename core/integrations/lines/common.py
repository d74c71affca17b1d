"""What every telephony line's set-up shares: the webhook URL the provider calls, the secrets
a provider hands back when the webhook is registered (kept sealed by the vault in the
account's state, never in clear), and one call to a provider's REST API with its errors
turned into a sentence for the member.

A provider that answers 429 is waited out for its Retry-After (bounded, a few times); one
that keeps throttling, answers 5xx or cannot be reached raises `TryLater` (the same call may
well work later), any other refusal `LineSetupError`. `every_page` follows a list endpoint's
pages as the provider pages it (a next link, a cursor, a page number)."""

from __future__ import annotations

import asyncio
import json as _json
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from core.integrations.vault import Vault
from storage.integrations import IntegrationAccount

log = logging.getLogger(__name__)

TIMEOUT = aiohttp.ClientTimeout(total=15)
SEALED = "sealed"  # the state key holding the vault token of the line's webhook secrets
RETRY_AFTER_MAX = 10.0  # seconds waited at most for one 429 (a member is waiting)
THROTTLED_MAX = 3  # 429s waited out for one call before giving up
# Seconds of Retry-After one call may wait in all: a member connecting a line can wait a
# little; a webhook's provider will not (it times out and delivers again), see `hurried`.
_patience: ContextVar[float] = ContextVar("line_patience", default=RETRY_AFTER_MAX * 2)
TRY_LATER_DEFAULT = 60.0  # seconds suggested after a 5xx or an unreachable provider
PAGES_MAX = 100  # pages followed at most on one list endpoint
sleep = asyncio.sleep  # replaced by tests that check the wait without waiting


class LineSetupError(Exception):
    """The provider refused or could not be reached; the message says so for the member."""


class TryLater(LineSetupError):
    """The provider is throttling, failing (5xx) or unreachable: the same call may work
    RETRY_AFTER seconds from now."""

    def __init__(self, message: str, retry_after: float = TRY_LATER_DEFAULT) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Pending:
    """A voicemail part an event only points at (a transcript to fetch from the provider):
    KEY is the voicemail's id (its parts share it), REF what to fetch (a URI, a call id),
    CALLER and CALLED what the event said of the call, TEXT the transcript when the event
    carried it after all, KIND the provider's word for what was transcribed."""

    key: str
    ref: str
    caller: str | None = None
    called: str | None = None
    text: str | None = None
    kind: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)


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


@contextmanager
def hurried(seconds: float) -> Iterator[None]:
    """Provider calls made inside wait at most SECONDS for 429s in all (then TryLater)."""
    token = _patience.set(seconds)
    try:
        yield
    finally:
        _patience.reset(token)


def _retry_after(value: str | None) -> float:
    try:
        seconds = float(value) if value is not None else 1.0
    except ValueError:
        seconds = 1.0
    return max(seconds, 0.0)


async def fetch(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    title: str,
    json: Any = None,
    headers: Mapping[str, str] | None = None,
    data: Any = None,
    params: Mapping[str, str] | None = None,
    limit: int = 4 * 1024 * 1024,
) -> bytes:
    """One REST call; its body (at most LIMIT bytes). A 429 is waited out for its
    Retry-After (at most RETRY_AFTER_MAX seconds, THROTTLED_MAX times, within the patience
    `hurried` sets).

    Raises:
        TryLater: still throttled, a 5xx, or no answer at all.
        LineSetupError: any other error status.
    """
    waited = 0.0
    for attempt in range(THROTTLED_MAX + 1):
        try:
            async with http.request(
                method, url, json=json, headers=headers, data=data, params=params
            ) as response:
                body = await response.content.read(limit)
                status = response.status
                retry_after = response.headers.get("Retry-After")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TryLater(f"{title} could not be reached: {type(exc).__name__}") from exc
        if status == 429:
            wait = _retry_after(retry_after)
            if (
                attempt == THROTTLED_MAX
                or wait > RETRY_AFTER_MAX
                or waited + wait > _patience.get()
            ):
                raise TryLater(
                    f"{title} is rate limiting these calls (429); try again in "
                    f"{max(1, round(wait))} seconds",
                    retry_after=max(wait, 1.0),
                )
            log.info("%s asked to wait %.1fs (429)", title, wait)
            await sleep(wait)
            waited += wait
            continue
        detail = body.decode("utf-8", "replace")[:200]
        if status >= 500:
            raise TryLater(f"{title} failed ({status}): {detail}")
        if status in (401, 403):
            raise LineSetupError(
                f"{title} refused the credentials ({status}): check them and connect the "
                f"line again. {detail}".strip()
            )
        if status >= 400:
            raise LineSetupError(f"{title} answered {status}: {detail}")
        return body
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


async def call(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    title: str,
    json: Any = None,
    headers: Mapping[str, str] | None = None,
    data: Any = None,
    params: Mapping[str, str] | None = None,
) -> Any:
    """One REST call; its JSON answer (None for an empty one).

    Raises:
        TryLater: throttled beyond the waits, a 5xx, or no answer at all.
        LineSetupError: another error status, or an unreadable answer.
    """
    body = await fetch(
        http, method, url, title=title, json=json, headers=headers, data=data, params=params
    )
    if not body.strip():
        return None
    try:
        return _json.loads(body)
    except ValueError as exc:
        raise LineSetupError(f"{title} sent an answer that is not JSON") from exc


async def every_page(
    http: aiohttp.ClientSession,
    url: str,
    *,
    title: str,
    headers: Mapping[str, str],
    items: Callable[[Any], list[Any]],
    following: Callable[[Any, str, dict[str, str]], tuple[str, dict[str, str]] | None],
    params: Mapping[str, str] | None = None,
) -> list[Any]:
    """Every item of a paged list: ITEMS reads a page's, FOLLOWING gives the next page's
    (url, params) from a page's answer (None after the last)."""
    found: list[Any] = []
    query = dict(params or {})
    for _ in range(PAGES_MAX):
        answer = await call(http, "GET", url, title=title, headers=headers, params=query)
        found.extend(items(answer))
        following_page = following(answer, url, query)
        if following_page is None:
            return found
        url, query = following_page
    raise LineSetupError(f"{title} kept answering with more pages (over {PAGES_MAX})")
