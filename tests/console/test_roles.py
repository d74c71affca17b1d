"""Roles on the server: every console URL the gateway registers, walked as a support member (and
a manager), answers a 403 page wherever the role may not go, never a 200 with the link hidden.

The walk reads the router, so pages added later are covered as soon as they are registered.
A page is forbidden unless its first path segment is in AREAS and the access table lets the role
into that area: a new page nobody classified is expected to refuse support (a safe default); add
its segment to AREAS when it belongs to an area every member may open."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp import web

from core.team.access import Area, can
from storage.db import Database
from tests.console.helpers import origin, sign_in
from tests.factories import make_member, make_workspace

# First segment after /console/ -> the access area it belongs to; None: open to anyone (the
# pages before sign-in) or to every signed-in member (their own profile).
AREAS: dict[str, Area | None] = {
    "": None,  # /console/ redirects to the inbox
    "login": None,
    "logout": None,
    "reset": None,
    "invitations": None,
    "profile": None,
    "inbox": "inbox",
    "assists": "inbox",
    "events": "inbox",  # live updates of the inbox (Server-Sent Events)
    "live": "live",
    "operator": "operator",
    "history": "history",
    "management": "management",
    "team": "team",
    "agents": "agents",
    "integrations": "integrations",
}
SAMPLE = {"ref": "A-1"}  # a path parameter's stand-in; anything else gets "x"
_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")


def console_routes(app: web.Application) -> list[tuple[str, str]]:
    """(method, path with sample parameters) of every console route but static files."""
    found = []
    for resource in app.router.resources():
        if resource.canonical.startswith("/console/static/"):  # stylesheets and scripts
            continue
        path = _PARAM.sub(lambda m: SAMPLE.get(m.group(1), "x"), resource.canonical)
        if not (path == "/console" or path.startswith("/console/")):
            continue
        for route in resource:
            if route.method in ("GET", "POST"):
                found.append((route.method, path))
    return sorted(set(found))


def allowed(role: str, plan: str, path: str) -> bool:
    segment = path.removeprefix("/console").strip("/").split("/", 1)[0]
    if segment not in AREAS:
        return False  # unclassified: it must refuse support until someone says otherwise
    area = AREAS[segment]
    return area is None or can(role, plan, area)


@pytest.mark.parametrize(
    ("role", "plan"),
    [("support", "pro"), ("support", "enterprise"), ("manager", "pro"), ("manager", "enterprise")],
)
async def test_every_console_url_checks_the_role_on_the_server(
    make_client: Any, db: Database, role: str, plan: str
) -> None:
    client = await make_client()
    async with db.session() as session:
        workspace = await make_workspace(session, plan=plan)
        await make_member(session, workspace.id, role="owner")
        member = await make_member(session, workspace.id, role=role)
    csrf = await sign_in(client, db, member.id)
    routes = console_routes(client.server.app)
    refused = [(m, p) for m, p in routes if not allowed(role, plan, p)]
    # Not vacuous: the team page and its actions are in the walk.
    assert ("GET", "/console/team") in refused and ("POST", "/console/team/invitations") in refused

    for method, path in routes:
        if method == "GET":
            response = await client.get(path, allow_redirects=False)
        elif (method, path) in refused:
            # A real form post from our own page: only the role can refuse it.
            response = await client.post(
                path, data={"csrf_token": csrf}, headers=origin(client), allow_redirects=False
            )
        else:
            continue  # an allowed action is exercised by its own page's tests
        if (method, path) in refused:
            assert response.status == 403, f"{role} on {plan}: {method} {path}"
            if method == "GET" and response.content_type == "text/html":
                # A page says why (script endpoints answer the same 403 as JSON).
                assert "is not available to you" in await response.text(), path
        elif path.startswith("/console/live/") and response.status == 403:
            # Live's own gate past the area: the workspace's flags (off by default), the
            # member's operator scopes, the socket's origin check; never the role.
            assert "is not available to you" not in await response.text(), path
        else:
            assert response.status not in (401, 403), f"{role} on {plan}: {method} {path}"
            assert response.status < 500, f"{method} {path}"
        response.release()

    inbox = await client.get("/console/inbox")
    assert inbox.status == 200
    html = await inbox.text()
    # The navigation offers only what the server lets this member open.
    for page in ("/console/team", "/console/agents", "/console/integrations"):
        assert f'href="{page}"' not in html
