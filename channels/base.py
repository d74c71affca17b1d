"""The channel contract and the framework-neutral inbound request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from api.http import problem
from api.state import GATEWAY
from core.team.directory import route_workspace
from models.task import Task
from storage.journal import Accepted, JournalClosed

if TYPE_CHECKING:
    from api.state import Gateway
    from delivery.senders import Sender


@dataclass(frozen=True, slots=True)
class InboundRequest:
    """A webhook as received: raw body bytes, headers, query and the URL the provider called."""

    method: str
    url: str
    path: str
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

        return cls(
            method=method,
            url=url,
            path=urlsplit(url).path or "/",
            headers=CIMultiDictProxy(CIMultiDict(headers or {})),
            query=MappingProxyType(dict(query or {})),
            body=body,
        )


async def from_aiohttp(request: web.Request) -> InboundRequest:
    """Read an aiohttp request into the neutral form (the body limit applies here: 413)."""
    body = await request.read()
    return InboundRequest(
        method=request.method,
        url=str(request.url),
        path=request.path,
        headers=request.headers,
        query=MappingProxyType(dict(request.query)),
        body=body,
    )


class Channel(Protocol):
    """A provider adapter with credentials: verifies and parses inbound traffic (its routes,
    registered by `channels.setup_routes`), and sends through its SDK (its senders)."""

    name: str

    async def start(self, gateway: Gateway) -> None:
        """Open SDK clients; the gateway's database, journal and media store are ready."""

    async def stop(self) -> None:
        """Close what `start` opened."""

    def senders(self) -> Mapping[str, Sender]:
        """Senders by channel name (Twilio gives both `sms` and `whatsapp`)."""
        ...


def channel_or_404(request: web.Request, name: str, variable: str) -> Any:
    """The running adapter behind a webhook route; a 404 naming the setting when it is off."""
    gateway = request.app[GATEWAY]
    channel = gateway.channels.get(name)
    if channel is None:
        raise problem(404, f"the {name} channel is off: {variable} is not set")
    return channel


async def ingest(gateway: Gateway, task: Task) -> Accepted:
    """Commit TASK to the inbound journal (deduped by its key) before the webhook is answered."""
    try:
        accepted = await gateway.journal.append(task)
    except JournalClosed as exc:
        raise problem(503, str(exc), **{"Retry-After": "1"}) from exc
    counter = (
        gateway.metrics.tasks_ingested if accepted.created else gateway.metrics.tasks_deduplicated
    )
    counter.labels(task.channel).inc()
    return accepted


async def workspace_for(gateway: Gateway, channel: str, address: str) -> str | None:
    """The workspace an inbound address (Slack team, Twilio number, bot) belongs to, cached."""

    async def load() -> str | None:
        async with gateway.db.session() as session:
            return await route_workspace(session, channel, address)

    found = await gateway.members.get_or_load(("route", channel, address), load)
    return None if found is None else str(found)
