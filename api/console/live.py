"""`/console/events`: Server-Sent Events for the signed-in member's open console pages, from
this node's LiveHub (delivery.live), scoped to their workspace."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

from aiohttp import web

from api.console.session import COOKIE, require
from api.console.templating import SECURITY_HEADERS
from api.state import GATEWAY
from core.team.signin import authenticate
from delivery.live import LiveEvent, LiveHub
from storage.types import utcnow

LIVE_HUB = web.AppKey("live_hub", LiveHub)
HEARTBEAT = 15.0  # seconds between comments that keep proxies from closing an idle stream
RECHECK = 30.0  # seconds between checks that the session still holds (signed out: the end)
READY_WITHIN = 5.0


def _frame(live: LiveEvent) -> bytes:
    data = json.dumps(live.data, separators=(",", ":"), ensure_ascii=True, default=str)
    return f"event: {live.kind}\ndata: {data}\n\n".encode()


async def _still_signed_in(request: web.Request) -> bool:
    """Whether the session cookie still works, without counting the stream as activity (an
    open tab alone does not keep a session from idling out)."""
    gateway = request.app[GATEWAY]
    async with gateway.db.sessions() as session:
        found = await authenticate(session, request.cookies.get(COOKIE, ""), now=utcnow())
        await session.rollback()
    return found is not None


async def events(request: web.Request) -> web.StreamResponse:
    """A stream of `assist` ({ref, status}), `changed` ({action}) and `notify`'s events for
    the member's workspace; a `hello` first and `resync` when the console should reload its
    views. It ends with `signed-out` when the session is revoked (within a second, on any
    node) or has expired (within RECHECK seconds), and when the node shuts down (the browser
    reconnects)."""
    who = await require(request, "inbox")
    hub = request.app[LIVE_HUB]
    response = web.StreamResponse(
        headers={
            **SECURITY_HEADERS,
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",  # nginx: pass each event on at once
        }
    )
    await response.prepare(request)
    checked = time.monotonic()
    try:
        with hub.subscribe(who.workspace_id, who.member_id, who.session_id) as sub:
            # `hello` promises that every change from now on is heard; a database slow to
            # answer delays it a little, never forever (the console catches up on `hello`).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(hub.ready(), READY_WITHIN)
            await response.write(b"retry: 2000\nevent: hello\ndata: {}\n\n")
            while True:
                try:
                    live = await sub.next(HEARTBEAT)
                except EOFError:
                    break
                if live is not None:
                    await response.write(_frame(live))
                    if live.kind == "signed-out":
                        break
                    continue
                if time.monotonic() - checked >= RECHECK:
                    checked = time.monotonic()
                    if not await _still_signed_in(request):
                        await response.write(b"event: signed-out\ndata: {}\n\n")
                        break
                await response.write(b": ping\n\n")
    except (ConnectionResetError, RuntimeError):
        pass  # the browser went away
    return response


async def _start(app: web.Application) -> None:
    app[LIVE_HUB] = LiveHub(app[GATEWAY].db)


async def _stop(app: web.Application) -> None:
    hub = app.get(LIVE_HUB)
    if hub is not None:
        await hub.close()


def setup(app: web.Application) -> None:
    app.router.add_get("/console/events", events)
    # After the gateway's own start-up (its cleanup context runs first); closed at shutdown,
    # before the gateway, so every open stream ends and the server need not wait for them.
    app.on_startup.append(_start)
    app.on_shutdown.append(_stop)
