"""`/console/live/socket`: the WebSocket a live desk page keeps open. Its heartbeats (one every
core.live.presence.HEARTBEAT seconds) hold the member's presence; it pushes the member's live
events (offers, the customer's messages, sessions changing) so the page updates at once.

A socket that closes changes nothing: the member stays live until the LiveSweeper finds their
heartbeats stopped for the presence timeout (a reload or a short network drop must not hand
their customers on). Going offline and signing out end presence at once, by their own forms."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from api.console.live import LIVE_HUB, _still_signed_in
from api.console.session import current
from api.state import GATEWAY
from core.live import presence
from core.team.access import can
from core.team.signin import SignedIn
from storage.types import new_id, utcnow

log = logging.getLogger(__name__)

KINDS = frozenset({"live_offer", "live_message", "live_session", "live_presence", "resync"})
MAX_MESSAGE = 4096  # bytes: the client only ever sends small JSON
WAIT = 5.0  # seconds between looks at the hub while nothing happens


def _same_origin(request: web.Request) -> bool:
    """Browsers always send Origin on a WebSocket handshake; only our own pages may connect
    (no other site may ride the member's cookie into their live desk)."""
    origin = request.headers.get("Origin")
    if not origin:
        return False
    base = request.app[GATEWAY].settings.base_url
    seen = urlsplit(origin).netloc.lower()
    return seen in {request.host.lower(), urlsplit(base).netloc.lower()}


async def _heartbeat(request: web.Request, who: SignedIn, connection: str) -> bool:
    gw = request.app[GATEWAY]
    async with gw.db.writing(), gw.db.session() as session:
        return await presence.heartbeat(
            session, who.member_id, connection, now=utcnow(), node=gw.node_id
        )


async def _send(ws: web.WebSocketResponse, body: dict[str, Any]) -> None:
    await ws.send_str(json.dumps(body, separators=(",", ":"), default=str))


async def socket(request: web.Request) -> web.StreamResponse:
    if not _same_origin(request):
        raise web.HTTPForbidden(text="This socket is for the console's own pages.")
    who = await current(request)
    if who is None:
        raise web.HTTPUnauthorized(text="Sign in to the console first.")
    if not can(who.role, who.plan, "live"):
        raise web.HTTPForbidden(text="Live is not available to you.")
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=MAX_MESSAGE)
    await ws.prepare(request)
    connection = new_id()
    hub = request.app[LIVE_HUB]
    with hub.subscribe(who.workspace_id, who.member_id, who.session_id) as sub:

        async def push() -> None:
            while not ws.closed:
                try:
                    live = await sub.next(WAIT)
                except EOFError:
                    break
                if live is None:
                    continue
                if live.kind == "signed-out":
                    await _send(ws, {"type": "signed-out"})
                    await ws.close()
                    break
                if live.kind in KINDS:
                    await _send(ws, {"type": live.kind, **live.data})

        pusher = asyncio.create_task(push())
        try:
            await _send(ws, {"type": "hello", "heartbeat": presence.HEARTBEAT})
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                try:
                    body = json.loads(message.data)
                except ValueError:
                    body = None
                if not isinstance(body, dict) or body.get("type") != "heartbeat":
                    await _send(ws, {"type": "error", "error": 'send {"type": "heartbeat"}'})
                    continue
                if not await _still_signed_in(request):
                    await _send(ws, {"type": "signed-out"})
                    break
                live = await _heartbeat(request, who, connection)
                await _send(ws, {"type": "heartbeat", "live": live})
        except (ConnectionResetError, RuntimeError):
            pass  # the browser went away
        finally:
            pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pusher
            await ws.close()
    return ws


def setup(app: web.Application) -> None:
    app.router.add_get("/console/live/socket", socket)
