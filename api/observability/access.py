"""One access log line per request (method, route template, status, duration, request id),
the request id echoed in `X-Request-ID`, per-route latency histograms, and the rejected
webhook signatures' warnings."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time

from aiohttp import web

from api.http import Handler
from api.observability.rejections import RejectionLog
from api.state import GATEWAY
from channels.errors import SignatureRejected
from config.logging import REQUEST_ID, TASK_ID

log = logging.getLogger("switchboard.access")

REQUEST_ID_HEADER = "X-Request-ID"
# An incoming id is kept when it is short and plain (a UUID, a proxy's token); anything else
# (long, spaces, control characters, quotes) is replaced, so nobody can forge log lines.
_SANE_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
REQUEST_ID_KEY = web.RequestKey("request_id", str)
REJECTIONS = web.AppKey("webhook_rejections", RejectionLog)
# Under it, a 401 to a request that sent credentials is a refused API key (admin API, web
# channel): warned about like a forged webhook, as channel "api". No credentials is no attack.
API_PREFIX = "/api/"
# Status logged for a request whose client went away before it was answered (nginx's code).
CLIENT_CLOSED = 499


def request_id_of(header: str | None) -> str:
    """HEADER when it is a sane request id, a new random one otherwise."""
    if header is not None and _SANE_ID.fullmatch(header):
        return header
    return secrets.token_hex(16)  # 32 random hex digits, as a UUID's hex without its fixed bits


def route_of(request: web.Request) -> str:
    """The matched route's template (`/media/{token}`), never the path: paths carry sign-in
    and media tokens, and ids would make the metric labels unbounded."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def observe_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost middleware: gives the request its id, times it, counts it and logs it."""
    request_id = request_id_of(request.headers.get(REQUEST_ID_HEADER))
    request[REQUEST_ID_KEY] = request_id
    id_token = REQUEST_ID.set(request_id)
    task_token = TASK_ID.set(None)  # set by the ingest of a task this request commits
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:  # redirects pass through the error middleware
        status = exc.status
        raise
    except asyncio.CancelledError:
        status = CLIENT_CLOSED
        raise
    finally:
        elapsed = time.perf_counter() - started
        route = route_of(request)
        gateway = request.app.get(GATEWAY)
        if gateway is not None:
            gateway.metrics.http_answered(route, status, request.method, elapsed)
        if status == 401 and route.startswith(API_PREFIX) and "Authorization" in request.headers:
            _note(request, "api", route, "the API key is invalid, revoked or malformed")
        if log.isEnabledFor(logging.INFO):  # the line's fields are not gathered for nothing
            log.info(
                "%s %s %s %.1fms",
                request.method,
                route,
                status,
                elapsed * 1000,
                extra={
                    "method": request.method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 1),
                    "request_id": request_id,
                    "remote": request.remote,
                },
            )
        TASK_ID.reset(task_token)
        REQUEST_ID.reset(id_token)


async def echo_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """`on_response_prepare`: every answer carries its request's id, streams and errors too."""
    request_id = request.get(REQUEST_ID_KEY)
    if request_id is not None:
        response.headers[REQUEST_ID_HEADER] = request_id


def note_rejection(request: web.Request, channel: str, exc: SignatureRejected) -> None:
    """Count a webhook refused for its signature and log it (rate-limited per channel)."""
    _note(request, channel, route_of(request), exc.message)


def _note(request: web.Request, channel: str, route: str, reason: str) -> None:
    gateway = request.app.get(GATEWAY)
    if gateway is not None:
        gateway.metrics.webhook_rejections.labels(channel).inc()
    rejections = request.app.get(REJECTIONS)
    if rejections is not None:
        rejections.rejected(channel, route, reason, request.remote)


def setup(app: web.Application) -> None:
    """The request id echo and the rejection log; `observe_requests` goes first in the
    application's middlewares."""
    app[REJECTIONS] = RejectionLog()
    app.on_response_prepare.append(echo_request_id)
