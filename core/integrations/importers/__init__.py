"""Help-desk importers: each reads one provider's open and pending tickets, page by page, with
their whole conversation, and hands them to the import run (core/integrations/imports.py) as
`Ticket`s. An importer is told where the last run stopped (`cursor`, its own JSON) and yields
each ticket with the cursor that resumes after it, so a run stopped anywhere continues there.

The providers' Python clients (zenpy, python-freshdesk, python-intercom, helpscout, happyfox)
are synchronous `requests` wrappers: on our event loop each call would block every other
task for the length of an HTTP round trip, and none takes a replaceable base URL for a
self-hosted instance. The importers speak the providers' documented REST APIs with aiohttp
instead, through `Http` here, which waits out a 429 for its Retry-After (bounded) and turns
every other failure into `ImportFailed` with a sentence a person can act on."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

RETRY_AFTER_MAX = 60.0  # seconds waited at most for one 429
THROTTLED_MAX = 5  # 429s in a row before the run gives up
TIMEOUT = aiohttp.ClientTimeout(total=60, connect=15)


class ImportFailed(Exception):
    """The provider refused or failed; the message says what to do (shown on the run)."""


@dataclass(frozen=True)
class Message:
    """One message of a ticket's conversation: `author` is customer or agent."""

    author: str
    text: str
    at: str  # ISO 8601 as the provider gave it
    name: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Ticket:
    source_id: str
    subject: str
    status: str  # open | pending
    created_at: str
    customer_name: str | None = None
    customer_email: str | None = None
    messages: list[Message] = field(default_factory=list)


class Importer:
    """One provider's reader; used as `async with importer:` (its HTTP session)."""

    http: Http

    async def __aenter__(self) -> Importer:
        await self.http.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.__aexit__(*exc)

    def tickets(self, cursor: Mapping[str, Any]) -> AsyncIterator[tuple[Ticket, dict[str, Any]]]:
        """The open and pending tickets from CURSOR on (no messages yet), each with the
        cursor that resumes after it; ends after the last one."""
        raise NotImplementedError

    async def conversation(self, ticket: Ticket) -> Ticket:
        """TICKET with its whole conversation in order (and its customer, if found there)."""
        raise NotImplementedError


class Http:
    """GET JSON from one provider: the base URL, its auth, 429s waited out."""

    def __init__(
        self,
        provider: str,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self._headers = dict(headers or {})
        self._sleep = sleep
        self._session: aiohttp.ClientSession | None = None
        # A 401 calls this (a new OAuth token); True: ask again (once per 429 budget).
        self.on_unauthorized: Callable[[], Awaitable[bool]] | None = None

    async def __aenter__(self) -> Http:
        self._session = aiohttp.ClientSession(timeout=TIMEOUT)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    def set_header(self, name: str, value: str) -> None:
        self._headers[name] = value

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        assert self._session is not None, "use Http as an async context manager"
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        for _ in range(THROTTLED_MAX):
            try:
                async with self._session.request(
                    method,
                    url,
                    params=params,
                    data=data,
                    json=json,
                    headers={**self._headers, **(headers or {})},
                ) as response:
                    if response.status == 429:
                        wait = _retry_after(
                            response.headers.get("Retry-After")
                            or response.headers.get("X-RateLimit-Retry-After"),
                            response.headers.get("X-RateLimit-Reset"),
                        )
                        log.info("%s asked to wait %.0fs (429)", self.provider, wait)
                        await self._sleep(wait)
                        continue
                    if (
                        response.status == 401
                        and self.on_unauthorized is not None
                        and await self.on_unauthorized()
                    ):
                        continue
                    if response.status in (401, 403):
                        raise ImportFailed(
                            f"{self.provider} refused the credentials ({response.status}): "
                            "check them on the Integrations page"
                        )
                    if response.status >= 400:
                        raise ImportFailed(
                            f"{self.provider} answered {response.status} to {method} "
                            f"{path.split('?')[0]}; the next run continues from here"
                        )
                    try:
                        return await response.json(content_type=None)
                    except ValueError as exc:
                        raise ImportFailed(
                            f"{self.provider} sent an answer that is not JSON"
                        ) from exc
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise ImportFailed(
                    f"{self.provider} could not be reached ({type(exc).__name__}); "
                    "the next run continues from here"
                ) from exc
        raise ImportFailed(
            f"{self.provider} kept answering 429 (rate limited); the next run continues from here"
        )

    async def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return await self.request("GET", path, params=params)


def _retry_after(value: str | None, reset: str | None = None) -> float:
    """Seconds to wait: Retry-After (or Help Scout's X-RateLimit-Retry-After), else the
    time until X-RateLimit-Reset (Intercom: a Unix time), else a second; never over the cap."""
    try:
        if value is not None:
            seconds = float(value)
        elif reset is not None:
            seconds = float(reset) - time.time()
        else:
            seconds = 1.0
    except ValueError:
        seconds = 1.0
    return min(max(seconds, 0.0), RETRY_AFTER_MAX)


def text_of(value: Any) -> str:
    return str(value).strip() if value is not None else ""
