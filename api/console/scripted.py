"""What the console's scripts call: JSON answers (401/403 as JSON, not a redirect or a page),
the CSRF header checked like a form's token, and idempotency keys from the page."""

from __future__ import annotations

from aiohttp import web

from api.console.session import ConsoleError, check_csrf, current
from api.http import problem
from core.team.access import Area, can, why_not
from core.team.signin import SignedIn
from storage.types import new_id

MAX_KEY = 64


def wants_json(request: web.Request) -> bool:
    return request.content_type == "application/json" or "application/json" in request.headers.get(
        "Accept", ""
    )


async def require_json(request: web.Request, area: Area) -> SignedIn:
    """`session.require` for script endpoints: JSON 401/403 instead of a redirect or a page."""
    who = await current(request)
    if who is None:
        raise problem(401, "sign in to the console first")
    if not can(who.role, who.plan, area):
        raise problem(403, why_not(who.role, who.plan, area))
    return who


def check_json_csrf(request: web.Request, who: SignedIn) -> None:
    try:
        check_csrf(request, who, None)
    except ConsoleError as exc:
        raise problem(exc.status, exc.message) from exc


def valid_key(value: object) -> str:
    """A client's idempotency key, or a fresh one when it sent none usable."""
    key = str(value or "").strip()
    if key and len(key) <= MAX_KEY and key.isascii() and key.isprintable():
        return key
    return new_id()
