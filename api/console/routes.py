"""Every console route, registered on the gateway's application."""

from __future__ import annotations

import hashlib
import mimetypes
from pathlib import Path

from aiohttp import web

from api.console import (
    agents,
    assists,
    history,
    inbox,
    integrations,
    linking,
    live,
    live_desk,
    live_groups,
    live_socket,
    management,
    operator,
    profile,
    signin,
    team,
)
from api.console.session import web_channel_session
from api.web import WEB_SESSION_AUTH

STATIC = Path(__file__).parent / "static"


class StaticFiles:
    """The console's stylesheets, scripts and icon (about 100 KB in all), read once and
    answered from memory with an ETag (a repeat visit gets a 304). Serving them from disk
    opened each file per request on an executor thread and closed it on another, and a
    request cut short at shutdown could leave one open."""

    def __init__(self, directory: Path) -> None:
        self._files: dict[str, tuple[bytes, str, str]] = {}
        for path in sorted(directory.iterdir()):
            if path.is_file():
                body = path.read_bytes()
                kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
                self._files[path.name] = (body, kind, etag)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        found = self._files.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound(text="no such file")
        body, kind, etag = found
        headers = {"ETag": etag, "Cache-Control": "no-cache"}
        if etag in request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers=headers)
        charset = "utf-8" if kind.startswith("text/") or kind.endswith("javascript") else None
        return web.Response(body=body, content_type=kind, charset=charset, headers=headers)


async def root(_request: web.Request) -> web.Response:
    raise web.HTTPFound("/console/")


async def console_home(_request: web.Request) -> web.Response:
    raise web.HTTPFound("/console/inbox")


def setup(app: web.Application) -> None:
    app.router.add_get("/", root)
    app.router.add_get("/console", console_home)
    app.router.add_get("/console/", console_home)
    app.router.add_get("/console/static/{name}", StaticFiles(STATIC).handle)
    app[WEB_SESSION_AUTH] = web_channel_session
    signin.setup(app)
    inbox.setup(app)
    assists.setup(app)
    live.setup(app)
    live_desk.setup(app)
    live_groups.setup(app)
    live_socket.setup(app)
    agents.setup(app)
    operator.setup(app)
    history.setup(app)
    team.setup(app)
    management.setup(app)
    integrations.setup(app)
    profile.setup(app)
    linking.setup(app)
