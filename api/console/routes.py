"""Every console route, registered on the gateway's application."""

from __future__ import annotations

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


async def root(_request: web.Request) -> web.Response:
    raise web.HTTPFound("/console/")


async def console_home(_request: web.Request) -> web.Response:
    raise web.HTTPFound("/console/inbox")


def setup(app: web.Application) -> None:
    app.router.add_get("/", root)
    app.router.add_get("/console", console_home)
    app.router.add_get("/console/", console_home)
    app.router.add_static("/console/static", STATIC, append_version=False)
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
