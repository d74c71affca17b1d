"""Every console route, registered on the gateway's application."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from api.console import assists, inbox, live, signin

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
    signin.setup(app)
    inbox.setup(app)
    assists.setup(app)
    live.setup(app)
