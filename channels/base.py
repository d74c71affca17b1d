"""The channel contract and the framework-neutral inbound request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy


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
