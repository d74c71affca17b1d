"""The channel contract: the framework-neutral inbound request, the narrow context a channel
gets from the gateway, the adapter Protocol and the spec each provider declares itself with."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol, TypeVar

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from channels.errors import ChannelRejected
from config import Settings
from delivery.media import MediaStore
from delivery.senders import Sender
from models.task import Task
from storage.db import Database
from storage.journal import Accepted

C = TypeVar("C")


@dataclass(frozen=True, slots=True)
class InboundRequest:
    """A webhook as received: raw body bytes, headers, query, and the path and query string
    (percent-encoded, as sent) the provider called."""

    method: str
    path: str
    raw_query: str
    headers: CIMultiDictProxy[str]
    query: Mapping[str, str]
    body: bytes

    @classmethod
    def build(
        cls,
        *,
        body: bytes,
        headers: Mapping[str, str] | None = None,
        url: str = "http://localhost/",
        method: str = "POST",
        query: Mapping[str, str] | None = None,
    ) -> InboundRequest:
        """For tests and non-aiohttp callers."""
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        return cls(
            method=method,
            path=parts.path or "/",
            raw_query=parts.query,
            headers=CIMultiDictProxy(CIMultiDict(headers or {})),
            query=MappingProxyType(dict(query or {})),
            body=body,
        )


async def from_aiohttp(request: web.Request) -> InboundRequest:
    """Read an aiohttp request into the neutral form (the body limit applies here: 413). The
    whole URL is not built (yarl, some 6 us a webhook): Twilio's signature, the one reader of
    more than the path, takes PUBLIC_BASE_URL with the path and query as sent."""
    body = await request.read()
    return InboundRequest(
        method=request.method,
        path=request.path,
        raw_query=request.rel_url.raw_query_string,
        headers=request.headers,
        query=MappingProxyType(dict(request.query)),
        body=body,
    )


class ChannelContext(Protocol):
    """What the gateway lends a channel: its database, media store and settings, the running
    adapters, and the ways in (ingest) and out (waking the outbox). Nothing else of the
    process is reachable from a channel."""

    @property
    def settings(self) -> Settings: ...

    @property
    def db(self) -> Database: ...

    @property
    def media(self) -> MediaStore: ...

    @property
    def channels(self) -> Mapping[str, Channel]:
        """The running adapters by name; a channel that is off is absent."""
        ...

    async def ingest(self, task: Task) -> Accepted:
        """Commit TASK to the inbound journal (deduped by its key) before the webhook is
        answered; raises ChannelRejected (503, Retry-After) while the gateway shuts down."""
        ...

    def count_task(self, channel: str, *, created: bool) -> None:
        """Count a task a channel recorded itself (finished on arrival), new or a redelivery."""

    async def workspace_for(self, channel: str, address: str) -> str | None:
        """The workspace an inbound address (Slack team, Twilio number, bot) belongs to."""
        ...

    def wake_outbox(self) -> None:
        """Deliver what was just enqueued now rather than at the next poll."""


class Channel(Protocol):
    """A provider adapter with credentials: verifies and parses inbound traffic (its routes),
    and sends through its SDK (its senders)."""

    @property
    def name(self) -> str: ...

    async def start(self, context: ChannelContext) -> None:
        """Open SDK clients; the context's database, journal and media store are ready."""

    async def stop(self) -> None:
        """Close what `start` opened."""

    def senders(self) -> Mapping[str, Sender]:
        """Senders by channel name (Twilio gives both `sms` and `whatsapp`)."""
        ...


WebhookHandler = Callable[[web.Request, ChannelContext], Awaitable[web.StreamResponse]]
ExpectHandler = Callable[[web.Request, ChannelContext], Awaitable[web.StreamResponse | None]]


@dataclass(frozen=True, slots=True)
class ChannelRoute:
    """A webhook route: the API layer registers it and calls HANDLER with the context."""

    method: str
    path: str
    handler: WebhookHandler
    # Answers `Expect: 100-continue` before the body is sent (None: aiohttp's default).
    expect: ExpectHandler | None = None


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """How a provider declares itself: its routes are registered whether or not it is
    configured (a call to a channel that is off gets a 404 naming the missing setting);
    without all of REQUIRED (environment names) it is off; CREATE builds the adapter."""

    name: str
    required: tuple[str, ...]
    routes: tuple[ChannelRoute, ...]
    create: Callable[[Settings], Channel]


def missing_settings(settings: Settings, required: tuple[str, ...]) -> list[str]:
    return [name for name in required if getattr(settings, name.lower(), None) in (None, "")]


def channel_or_404(context: ChannelContext, name: str, kind: type[C], variable: str) -> C:
    """The running adapter behind a webhook route; a 404 naming the setting when it is off."""
    channel = context.channels.get(name)
    if channel is None:
        raise ChannelRejected(404, f"the {name} channel is off: {variable} is not set")
    if not isinstance(channel, kind):
        raise TypeError(f"the {name} channel is a {type(channel).__name__}, not {kind.__name__}")
    return channel
