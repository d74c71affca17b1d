"""Slack Socket Mode simulator: the Web API simulator plus ``apps.connections.open`` and the
WebSocket it hands out, as slack_sdk's ``SocketModeClient`` expects them.

Like Slack it greets each connection with ``hello``, sends envelopes (``events_api``,
``interactive``, ``slash_commands``), records each acknowledgement with its arrival time, and
delivers every envelope not acknowledged again on the next connection (a new envelope id, the
same payload, ``retry_attempt`` counting up). It can drop a connection (a plain close, or a
``disconnect`` message asking the client to reconnect) and lose acknowledgements as if the
connection broke before they reached Slack."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import WSMsgType, web

from tests.sims.slack import SlackSim

__all__ = ["Ack", "Envelope", "SlackSocketSim"]

EnvelopeType = Literal["events_api", "interactive", "slash_commands"]


@dataclass(slots=True)
class Envelope:
    """One payload Slack wants acknowledged; ``ids`` every envelope id it was sent under."""

    type: EnvelopeType
    payload: dict[str, Any]
    ids: list[str] = field(default_factory=list)
    acked: asyncio.Event = field(default_factory=asyncio.Event)

    def message(self, envelope_id: str) -> dict[str, Any]:
        attempt = len(self.ids) - 1
        message: dict[str, Any] = {
            "envelope_id": envelope_id,
            "payload": self.payload,
            "type": self.type,
            "accepts_response_payload": self.type == "slash_commands",
        }
        if self.type == "events_api":
            message["retry_attempt"] = attempt
            message["retry_reason"] = "timeout" if attempt else ""
        return message


@dataclass(frozen=True, slots=True)
class Ack:
    """An acknowledgement as received: for which envelope, with what payload, when
    (``time.monotonic()``), on which connection, and whether the simulator honoured it."""

    envelope_id: str
    payload: dict[str, Any] | None
    at: float
    connection: int
    lost: bool


class SlackSocketSim(SlackSim):
    """``SlackSim`` that also serves Socket Mode: ``app_token`` opens connections."""

    def __init__(self, *, app_token: str = "xapp-1-A0SIMAPP1-1-simapptoken", **kwargs: Any):
        self.app_token = app_token
        self.envelopes: list[Envelope] = []
        self.acks: list[Ack] = []
        self.connections_opened = 0
        self.on_ack: Callable[[Ack], Awaitable[None]] | None = None
        """Awaited as each acknowledgement arrives, before anything else is read: a test can
        look at the gateway's database at the moment of the ack."""
        self._sockets: dict[int, web.WebSocketResponse] = {}
        self._tickets: set[str] = set()
        self._ids = itertools.count(1)
        self._by_id: dict[str, Envelope] = {}
        self._lose_acks = 0
        self._connected = asyncio.Event()
        super().__init__(**kwargs)

    # ------------------------------------------------------------------ scripting

    async def connected(self, timeout: float = 10.0) -> int:  # noqa: ASYNC109
        """Wait for an open connection; its number."""
        async with asyncio.timeout(timeout):
            while not self._sockets:
                await self._connected.wait()
        return max(self._sockets)

    async def send(
        self, kind: EnvelopeType, payload: dict[str, Any], *, connection: int | None = None
    ) -> Envelope:
        """Deliver PAYLOAD on CONNECTION (by number; the newest open one by default), or on the
        next connection if none is open."""
        envelope = Envelope(kind, payload)
        self.envelopes.append(envelope)
        if self._sockets:
            await self._deliver(envelope, self._sockets[connection or max(self._sockets)])
        return envelope

    async def resend(self, envelope: Envelope, *, connection: int) -> None:
        """Deliver ENVELOPE again on CONNECTION, as Slack retries an event it has no ack for
        yet on another of the app's connections."""
        await self._deliver(envelope, self._sockets[connection])

    @property
    def open_connections(self) -> list[int]:
        return sorted(self._sockets)

    async def acked(self, envelope: Envelope, timeout: float = 10.0) -> Ack:  # noqa: ASYNC109
        """Wait until ENVELOPE (under any of its ids) is acknowledged; that acknowledgement."""
        async with asyncio.timeout(timeout):
            await envelope.acked.wait()
        return next(a for a in self.acks if a.envelope_id in envelope.ids and not a.lost)

    def acks_of(self, envelope: Envelope) -> list[Ack]:
        return [a for a in self.acks if a.envelope_id in envelope.ids]

    def lose_acks(self, times: int = 1) -> None:
        """The next TIMES acknowledgements never arrive: the connection they came on breaks
        first (it is closed), so their envelopes are delivered again on the next one."""
        self._lose_acks += times

    async def drop(self, how: Literal["close", "disconnect"] = "close") -> None:
        """End the open connections: ``close`` cuts them; ``disconnect`` asks the client to
        reconnect, as Slack does before it refreshes a connection."""
        for socket in list(self._sockets.values()):
            if how == "disconnect":
                await socket.send_json(
                    {"type": "disconnect", "reason": "refresh_requested", "debug_info": {}}
                )
            else:
                await socket.close()

    @property
    def unacknowledged(self) -> list[Envelope]:
        return [e for e in self.envelopes if not e.acked.is_set()]

    async def close(self) -> None:
        for socket in list(self._sockets.values()):
            await socket.close()
        await super().close()

    # ------------------------------------------------------------------ routes

    def setup_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/api/apps.connections.open", self._connections_open)
        router.add_get("/link/", self._socket)
        super().setup_routes(router)

    async def _connections_open(self, request: web.Request) -> web.StreamResponse:
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else None
        if token is None:
            return web.json_response({"ok": False, "error": "not_authed"})
        if token == self.token:
            return web.json_response({"ok": False, "error": "not_allowed_token_type"})
        if token != self.app_token:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        ticket = f"ticket-{next(self._ids)}"
        self._tickets.add(ticket)
        ws_url = self.url.replace("http://", "ws://", 1)
        return web.json_response(
            {"ok": True, "url": f"{ws_url}/link/?ticket={ticket}&app_id={self.app_id}"}
        )

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            return web.Response(status=401, text="invalid ticket")
        self._tickets.discard(ticket)  # a URL opens one connection
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        self.connections_opened += 1
        number = self.connections_opened
        self._sockets[number] = socket
        self._connected.set()
        self._connected = asyncio.Event()
        try:
            await socket.send_json(
                {
                    "type": "hello",
                    "num_connections": len(self._sockets),
                    "debug_info": {"host": "sim", "approximate_connection_time": 18060},
                    "connection_info": {"app_id": self.app_id},
                }
            )
            for envelope in self.unacknowledged:
                await self._deliver(envelope, socket)
            async for message in socket:
                if message.type == WSMsgType.TEXT:
                    await self._received(message.json(), number, socket)
        finally:
            self._sockets.pop(number, None)
        return socket

    async def _deliver(self, envelope: Envelope, socket: web.WebSocketResponse) -> None:
        envelope_id = f"env-{next(self._ids):04d}-{int(time.time())}"
        envelope.ids.append(envelope_id)
        self._by_id[envelope_id] = envelope
        await socket.send_json(envelope.message(envelope_id))

    async def _received(
        self, message: dict[str, Any], number: int, socket: web.WebSocketResponse
    ) -> None:
        envelope_id = message.get("envelope_id")
        if not isinstance(envelope_id, str):
            return
        lost = self._lose_acks > 0
        ack = Ack(envelope_id, message.get("payload"), time.monotonic(), number, lost)
        if self.on_ack is not None:
            await self.on_ack(ack)
        self.acks.append(ack)
        if lost:
            self._lose_acks -= 1
            await socket.close()
            return
        envelope = self._by_id.get(envelope_id)
        if envelope is not None:
            envelope.acked.set()
