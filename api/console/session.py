"""Who is signed in to the console, what they may open, and CSRF checks for every change."""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlsplit

from aiohttp import web
from multidict import MultiDictProxy

from api.console.templating import SECURITY_HEADERS, render
from api.http import problem
from api.state import GATEWAY, Gateway
from core.team.access import AREA_TITLES, Area, can, why_not
from core.team.signin import SignedIn, authenticate
from storage.types import utcnow

log = logging.getLogger(__name__)

COOKIE = "sb_session"
CSRF_COOKIE = "sb_csrf"  # double-submit token for the forms shown before sign-in
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
# Looked up once a request; absent until then (None: looked up, nobody signed in).
SIGNED_IN = web.RequestKey("console_signed_in", object)
CSRF_COOKIE_VALUE = web.RequestKey("console_csrf_cookie", str)


class ConsoleError(Exception):
    """Rendered as a console page with STATUS (403 for a forbidden area, 400 for a bad form)."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


async def current(request: web.Request) -> SignedIn | None:
    """The member this request's session cookie signs in, or None; looked up once a request."""
    if SIGNED_IN in request:
        cached = request[SIGNED_IN]
        return cached if isinstance(cached, SignedIn) else None
    token = request.cookies.get(COOKIE, "")
    found = None
    if token:
        gateway = request.app[GATEWAY]
        async with gateway.db.session() as session:
            found = await authenticate(session, token, now=utcnow())
    request[SIGNED_IN] = found
    return found


def login_redirect(request: web.Request) -> web.HTTPFound:
    target = request.path_qs if request.method == "GET" else "/console/inbox"
    return web.HTTPFound(f"/console/login?next={quote(target, safe='/')}")


async def require(request: web.Request, area: Area) -> SignedIn:
    """The signed-in member, allowed into AREA. Redirects to sign-in without a session; a 403
    page (never just a hidden link) when the role or plan does not reach AREA."""
    who = await current(request)
    if who is None:
        raise login_redirect(request)
    if not can(who.role, who.plan, area):
        raise ConsoleError(
            403, f"{AREA_TITLES[area]} is not available to you", why_not(who.role, who.plan, area)
        )
    return who


def safe_next(value: str | None) -> str:
    """Only a path on this console: never an absolute URL (no open redirect)."""
    if not value or not value.startswith("/console/") or value.startswith("//"):
        return "/console/inbox"
    if "\\" in value or any(ord(c) < 32 for c in value):
        return "/console/inbox"
    return value


def _same_origin(request: web.Request, base_url: str) -> bool:
    """A state-changing request must come from a page of ours: the browser's Origin (or, where
    it sends none, Referer) names this host, and Sec-Fetch-Site is not cross-site."""
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin") or request.headers.get("Referer")
    if not origin or origin == "null":
        return origin is None  # no header: a non-browser client, held by the token alone
    seen = urlsplit(origin)
    own = {request.host.lower(), urlsplit(base_url).netloc.lower()}
    return seen.netloc.lower() in own


def check_csrf(request: web.Request, who: SignedIn, form: MultiDictProxy[Any] | None) -> None:
    """Raises a 403 page unless the request carries this session's CSRF token and came from
    our own origin."""
    sent = request.headers.get(CSRF_HEADER) or (str(form.get(CSRF_FIELD, "")) if form else "")
    gateway = request.app[GATEWAY]
    if not (
        sent
        and hmac.compare_digest(sent.encode(), who.csrf_token.encode())
        and _same_origin(request, gateway.settings.base_url)
    ):
        raise ConsoleError(
            403,
            "This form has expired",
            "The request did not come from this console's own page (its security token is "
            "missing or stale). Reload the page and try again; nothing was changed.",
        )


def anonymous_csrf(request: web.Request) -> str:
    """The double-submit token for a form shown before sign-in (set as a cookie too)."""
    token = request.cookies.get(CSRF_COOKIE, "")
    if not (20 <= len(token) <= 100):
        token = secrets.token_urlsafe(24)
    request[CSRF_COOKIE_VALUE] = token
    return token


def check_anonymous_csrf(request: web.Request, form: MultiDictProxy[Any]) -> None:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = str(form.get(CSRF_FIELD, ""))
    gateway = request.app[GATEWAY]
    if not (
        cookie
        and sent
        and hmac.compare_digest(cookie.encode(), sent.encode())
        and _same_origin(request, gateway.settings.base_url)
    ):
        raise ConsoleError(
            403,
            "This form has expired",
            "The request did not come from this console's own page. Reload the page and try "
            "again; nothing was changed.",
        )


def set_cookie(
    response: web.StreamResponse, gateway: Gateway, name: str, value: str, *, max_age: int | None
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=gateway.settings.secure_cookies,
    )


def page(request: web.Request, template: str, who: SignedIn | None, **context: Any) -> web.Response:
    """A console page with the layout's context (who, navigation, CSRF token)."""
    response = render(
        template,
        {
            "who": who,
            "nav": [(label, url, in_section(request.path, url)) for label, url in navigation(who)],
            "path": request.path,
            "csrf": who.csrf_token if who else request.get(CSRF_COOKIE_VALUE, ""),
            **context,
        },
    )
    token = request.get(CSRF_COOKIE_VALUE)
    if token:
        set_cookie(response, request.app[GATEWAY], CSRF_COOKIE, token, max_age=None)
    return response


NAV: tuple[tuple[Area, str], ...] = (
    ("inbox", "/console/inbox"),
    ("operator", "/console/operator"),
    ("live", "/console/live"),
    ("history", "/console/history"),
    ("agents", "/console/agents"),
    ("team", "/console/team"),
    ("integrations", "/console/integrations"),
    ("management", "/console/management"),
)
# Pages that belong to an area without sharing its URL: an assist's page is the AI Inbox's.
_ALSO_UNDER: dict[str, tuple[str, ...]] = {"/console/inbox": ("/console/assists/",)}


def navigation(who: SignedIn | None) -> list[tuple[str, str]]:
    if who is None:
        return []
    return [(AREA_TITLES[area], url) for area, url in NAV if can(who.role, who.plan, area)]


def in_section(path: str, url: str) -> bool:
    """Whether the page at PATH is in the navigation entry URL (marked as the current one)."""
    return path.startswith((url, *_ALSO_UNDER.get(url, ())))


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def console_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Console pages: errors as pages (not JSON), security headers on every answer."""
    if not request.path.startswith("/console"):
        return await handler(request)
    try:
        response = await handler(request)
    except ConsoleError as exc:
        cached = request.get(SIGNED_IN)
        who = cached if isinstance(cached, SignedIn) else None
        response = page(request, "error.html", who, title=exc.title, message=exc.message)
        response.set_status(exc.status)
    except web.HTTPNotFound:
        who = await current(request)
        response = page(
            request,
            "error.html",
            who,
            title="Not found",
            message=f"There is no page at {request.path}.",
        )
        response.set_status(404)
    except web.HTTPException:
        raise  # redirects, and the API's own errors, as they are
    except Exception:
        # A page for a member, not the API's JSON; the traceback goes to the log.
        log.exception("unhandled error on %s %s", request.method, request.path)
        response = page(
            request,
            "error.html",
            None,
            title="Something went wrong",
            message="This page failed and the error has been logged. If you were saving "
            "something, it may not have been saved: reload the page to see where things stand.",
        )
        response.set_status(500)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


async def web_channel_session(request: web.Request) -> tuple[str, str] | None:
    """The web channel's console-session authenticator (`api.web.WEB_SESSION_AUTH`): the
    signed-in member, their CSRF token required on anything but a read."""
    who = await current(request)
    if who is None:
        return None
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        sent = request.headers.get(CSRF_HEADER, "")
        gateway = request.app[GATEWAY]
        if not (
            sent
            and hmac.compare_digest(sent.encode(), who.csrf_token.encode())
            and _same_origin(request, gateway.settings.base_url)
        ):
            raise problem(
                403, "a console session must send its CSRF token in the X-CSRF-Token header"
            )
    return who.workspace_id, who.member_id
