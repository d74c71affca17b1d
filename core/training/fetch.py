"""URL training sources: fetched by a background worker, never inside an approval's transaction."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from html.parser import HTMLParser
from types import TracebackType
from typing import cast

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from sqlalchemy import Table, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from yarl import URL

from config.failures import RepeatedFailure
from storage.db import Database
from storage.domain import TrainingSource
from storage.types import new_id, utcnow

log = logging.getLogger(__name__)
_sources = cast(Table, TrainingSource.__table__)

FETCH_TIMEOUT = 10.0
MAX_BYTES = 2 * 1024 * 1024
MAX_REDIRECTS = 5
USER_AGENT = "Switchboard-training-fetch/1"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_HTML = frozenset({"text/html", "application/xhtml+xml"})
_TEXT = frozenset({"text/plain", "text/markdown"})


class FetchError(Exception):
    """A page could not be fetched or read; the message is the reason recorded on the source."""


class NotPublicAddress(OSError):
    """The host is (or resolves to) a loopback, private, link-local or reserved address."""


async def request_fetch(
    session: AsyncSession, workspace_id: str, source_ids: Iterable[int]
) -> None:
    """Queue the active URL sources among SOURCE_IDS for a (re-)fetch, in the caller's
    transaction: the worker sees the request only once that transaction commits."""
    ids = sorted(set(source_ids))
    if not ids:
        return
    await session.execute(
        update(TrainingSource)
        .where(
            TrainingSource.workspace_id == workspace_id,
            TrainingSource.id.in_(ids),
            TrainingSource.kind == "url",
            TrainingSource.active.is_(True),
        )
        .values(fetch_status="pending", fetch_token=None, fetch_lease_until=None, fetch_error=None)
        .execution_options(synchronize_session=False)
    )


# ---- reading a page ------------------------------------------------------------------------------

_SKIPPED = frozenset(
    {"head", "script", "style", "noscript", "template", "svg", "iframe", "object", "nav", "footer"}
)
_BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption",
        "figure", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "ol",
        "p", "pre", "section", "table", "td", "th", "tr", "ul",
    }
)  # fmt: skip


class _Readable(HTMLParser):
    """The visible text of an HTML page, one block per line; scripts, styles and navigation
    left out."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self._skipping = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag == "body":
            self._skipping = 0  # a page that never closes <head>
        elif tag in _SKIPPED:
            self._skipping += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in _SKIPPED:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif not self._skipping:
            self.parts.append(data)


def _tidy(text: str) -> str:
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def readable_text(content_type: str, body: bytes, charset: str | None) -> str:
    """The text a page offers to read. Raises FetchError for other content or none at all."""
    decoded = body.decode(charset or "utf-8", errors="replace")
    if content_type in _HTML:
        parser = _Readable()
        parser.feed(decoded)
        parser.close()
        text = _tidy("".join(parser.parts))
    elif content_type in _TEXT:
        text = _tidy(decoded)
    else:
        raise FetchError(f"the page is {content_type or 'of no declared type'}, not HTML or text")
    if not text:
        raise FetchError("the page has no readable text")
    return text


# ---- fetching ------------------------------------------------------------------------------------


def _check_public(host: str) -> None:
    address = ipaddress.ip_address(host.split("%", 1)[0])
    if not address.is_global or address.is_multicast:
        raise NotPublicAddress(f"{host} is not a public address")


class PublicOnlyResolver(AbstractResolver):
    """Resolves like aiohttp's default, but refuses a host with any non-public address, so a
    training URL cannot reach the gateway's own network (checked at connect time, after DNS)."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            try:
                _check_public(result["host"])
            except NotPublicAddress as exc:
                raise NotPublicAddress(f"{host} resolves to {result['host']}, {exc}") from None
        return results

    async def close(self) -> None:
        await self._inner.close()


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


async def _read_capped(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    too_big = FetchError(f"the page is larger than {max_bytes // 1024} KiB")
    if response.content_length is not None and response.content_length > max_bytes:
        raise too_big
    body = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        body.extend(chunk)
        if len(body) > max_bytes:
            raise too_big
    return bytes(body)


async def fetch_text(
    http: aiohttp.ClientSession, url: str, *, max_bytes: int, allow_private_hosts: bool
) -> str:
    """The readable text at URL, following up to five redirects. Raises FetchError."""
    target = URL(url)
    for _ in range(MAX_REDIRECTS + 1):
        if target.scheme not in ("http", "https") or not target.host:
            raise FetchError(f"only http and https pages can be fetched, not {target}")
        if not allow_private_hosts and _is_ip(target.host):
            try:
                _check_public(target.host)
            except NotPublicAddress as exc:
                raise FetchError(str(exc)) from exc
        try:
            async with http.get(target, allow_redirects=False) as response:
                if response.status in _REDIRECTS:
                    location = response.headers.get("Location")
                    if not location:
                        raise FetchError(f"HTTP {response.status} without a Location header")
                    target = target.join(URL(location))
                    continue
                if response.status != 200:
                    raise FetchError(f"HTTP {response.status} {response.reason or ''}".strip())
                body = await _read_capped(response, max_bytes)
                return readable_text(response.content_type, body, response.charset)
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, NotPublicAddress):
                raise FetchError(str(exc.os_error)) from exc
            if isinstance(exc, aiohttp.ClientConnectorDNSError):
                raise FetchError(f"cannot resolve {target.host}") from exc
            if isinstance(exc.os_error, ConnectionRefusedError):
                reason = "connection refused"
            else:
                reason = exc.os_error.strerror or type(exc.os_error).__name__
            raise FetchError(f"cannot connect to {target.host}:{target.port} ({reason})") from exc
        except TimeoutError:
            raise  # some of aiohttp's timeouts are ClientErrors too: the caller names the limit
        except aiohttp.ClientError as exc:
            raise FetchError(f"{type(exc).__name__}: {exc}") from exc
    raise FetchError(f"more than {MAX_REDIRECTS} redirects")


# ---- the worker ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    id: int
    url: str
    token: str


class TrainingFetcher:
    """Claims URL sources waiting for a fetch (SKIP LOCKED on PostgreSQL), fetches each outside
    any transaction and records `fetched` with the new text or `failed` with the reason. A claim
    is a lease with a token: a node that dies leaves it to be reclaimed, and a source asked for
    again meanwhile (a new restore) drops the stale result."""

    def __init__(
        self,
        db: Database,
        *,
        poll_interval: float = 0.5,
        timeout: float = FETCH_TIMEOUT,
        max_bytes: int = MAX_BYTES,
        allow_private_hosts: bool = False,
        batch: int = 4,
        lease_seconds: float = 60.0,
    ) -> None:
        self._db = db
        self._poll_interval = poll_interval
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._allow_private = allow_private_hosts
        self._batch = batch
        self._lease = timedelta(seconds=max(lease_seconds, timeout * 2))
        self._http: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._held: dict[int, str] = {}  # source id -> claim token, while being fetched
        self._wakeup = asyncio.Event()
        self._stopping = False

    async def __aenter__(self) -> TrainingFetcher:
        resolver = None if self._allow_private else PublicOnlyResolver()
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._timeout),
            connector=aiohttp.TCPConnector(resolver=resolver, limit=self._batch),
            headers={"User-Agent": USER_AGENT, "Accept": "text/html, text/plain;q=0.8"},
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the loop (an unfinished fetch is cancelled and its source queued again)."""
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._held:
            async with self._db.writing(), self._db.session() as session:
                await session.execute(
                    update(_sources)
                    .where(
                        _sources.c.id.in_(self._held),
                        _sources.c.fetch_token.in_(set(self._held.values())),
                    )
                    .values(fetch_status="pending", fetch_token=None, fetch_lease_until=None)
                )
            self._held.clear()
        if self._http is not None:
            await self._http.close()

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="training-fetch")

    def wake(self) -> None:
        self._wakeup.set()

    async def run(self) -> None:
        failures = RepeatedFailure(log, "training fetch: claiming", first=self._poll_interval)
        while not self._stopping:
            self._wakeup.clear()
            wait = self._poll_interval
            try:
                fetched = await self.fetch_due()
            except Exception as exc:  # the database went away for a moment: try again later
                wait, fetched = failures.failed(exc), 0
            else:
                failures.succeeded()
            if fetched:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), wait)

    async def fetch_due(self) -> int:
        """Claim and fetch what is due now; the number of sources handled."""
        claimed = await self.claim()
        await asyncio.gather(*(self.fetch(c) for c in claimed))
        return len(claimed)

    async def claim(self) -> list[Claimed]:
        now = utcnow()
        token = new_id()
        status = _sources.c.fetch_status
        due = (
            select(_sources.c.id)
            .where(
                _sources.c.kind == "url",
                _sources.c.active.is_(True),
                or_(
                    status == "pending",
                    and_(status == "fetching", _sources.c.fetch_lease_until < now),
                ),
            )
            .order_by(_sources.c.id)
            .limit(self._batch)
            .with_for_update(skip_locked=True)
        )
        async with self._db.writing(), self._db.session() as session:
            rows = (
                await session.execute(
                    update(_sources)
                    .where(_sources.c.id.in_(due.scalar_subquery()))
                    .values(
                        fetch_status="fetching",
                        fetch_token=token,
                        fetch_lease_until=now + self._lease,
                    )
                    .returning(_sources.c.id, _sources.c.url)
                )
            ).all()
        self._held.update((row.id, token) for row in rows)
        return [Claimed(id=row.id, url=row.url or "", token=token) for row in rows]

    async def fetch(self, claimed: Claimed) -> None:
        """Fetch one claimed source and record the outcome, unless it was asked for again."""
        assert self._http is not None, "use the fetcher as an async context manager"
        text: str | None = None
        try:
            text = await fetch_text(
                self._http,
                claimed.url,
                max_bytes=self._max_bytes,
                allow_private_hosts=self._allow_private,
            )
            outcome = {"fetch_status": "fetched", "content": text, "fetch_error": None}
            log.info("training source %s fetched from %s", claimed.id, claimed.url)
        except FetchError as exc:
            outcome = {"fetch_status": "failed", "fetch_error": str(exc)[:500]}
            log.warning("training source %s: %s: %s", claimed.id, claimed.url, exc)
        except TimeoutError:
            reason = f"no complete answer within {self._timeout:g} seconds"
            outcome = {"fetch_status": "failed", "fetch_error": reason}
            log.warning("training source %s: %s: %s", claimed.id, claimed.url, reason)
        except Exception as exc:  # the one error boundary per fetch
            log.exception("training source %s: fetching %s failed", claimed.id, claimed.url)
            outcome = {"fetch_status": "failed", "fetch_error": f"internal error ({exc})"[:500]}
        async with self._db.writing(), self._db.session() as session:
            await session.execute(
                update(_sources)
                .where(_sources.c.id == claimed.id, _sources.c.fetch_token == claimed.token)
                .values(fetched_at=utcnow(), fetch_token=None, fetch_lease_until=None, **outcome)
            )
        self._held.pop(claimed.id, None)
