"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from api.state import GATEWAY


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY]
    try:
        await gateway.db.ping()
        pending = await gateway.db.pending_migrations()
    except Exception as exc:  # readiness reports the failure instead of raising it
        return web.json_response(
            {"status": "unavailable", "database": f"unreachable: {type(exc).__name__}"},
            status=503,
        )
    if pending:
        return web.json_response(
            {"status": "unavailable", "database": "ok", "pending_migrations": pending},
            status=503,
        )
    return web.json_response({"status": "ready", "database": "ok", "node": gateway.node_id})


async def metrics(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY]
    if gateway.gauges is not None:
        await gateway.gauges.refresh()
    return web.Response(
        body=gateway.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
