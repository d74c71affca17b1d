"""Sign-in pages: password, one-time link, invitation acceptance, password reset, sign-out."""

from __future__ import annotations

from aiohttp import web
from multidict import MultiDictProxy

from api.console.session import (
    COOKIE,
    ConsoleError,
    anonymous_csrf,
    check_anonymous_csrf,
    check_csrf,
    current,
    page,
    safe_next,
    set_cookie,
)
from api.state import GATEWAY
from core.live.sessions import mark_offline
from core.team.invitations import (
    InvitationError,
    accept_invitation,
    email_sign_in_links,
    open_invitation,
    request_password_reset,
    reset_password,
)
from core.team.signin import (
    SESSION_LIFETIME,
    SignInError,
    WeakPassword,
    end_session,
    member_for_link,
    peek_token,
    sign_in_with_password,
    start_session,
)
from storage.models import Member
from storage.types import utcnow

MAX_FIELD = 320


def _address(request: web.Request) -> str:
    return (request.remote or "unknown")[:64]


async def _signed_in_response(
    request: web.Request, member_id: str, method: str, target: str
) -> web.Response:
    """Starts a new session for MEMBER (a fresh token: the old cookie, if any, is useless) and
    sends them on to TARGET."""
    gateway = request.app[GATEWAY]
    async with gateway.db.session() as session:
        member = await session.get(Member, member_id)
        assert member is not None
        new = await start_session(
            session,
            member,
            now=utcnow(),
            address=_address(request),
            user_agent=request.headers.get("User-Agent"),
            method=method,
        )
    response = web.HTTPFound(safe_next(target))
    set_cookie(response, gateway, COOKIE, new.token, max_age=int(SESSION_LIFETIME.total_seconds()))
    raise response


async def login_page(request: web.Request) -> web.Response:
    if await current(request) is not None:
        raise web.HTTPFound(safe_next(request.query.get("next")))
    anonymous_csrf(request)
    return page(
        request,
        "login.html",
        None,
        title="Sign in",
        next=safe_next(request.query.get("next")),
        email="",
        error=None,
        notice=None,
    )


async def _form(request: web.Request) -> MultiDictProxy[str | bytes | bytearray | web.FileField]:
    form = await request.post()
    for value in form.values():
        if isinstance(value, str) and len(value) > 4000:
            raise ConsoleError(400, "Too long", "A field is too long; nothing was changed.")
    return form


async def login_submit(request: web.Request) -> web.Response:
    form = await _form(request)
    check_anonymous_csrf(request, form)
    email = str(form.get("email", "")).strip()[:MAX_FIELD]
    password = str(form.get("password", ""))
    target = safe_next(str(form.get("next", "")))
    gateway = request.app[GATEWAY]
    error: str | None = None
    member: Member | None = None
    async with gateway.db.session() as session:
        try:
            member = await sign_in_with_password(
                session, email, password, address=_address(request), now=utcnow()
            )
        except SignInError as exc:
            error = str(exc)
    if member is not None:
        return await _signed_in_response(request, member.id, "password", target)
    anonymous_csrf(request)
    response = page(
        request,
        "login.html",
        None,
        title="Sign in",
        next=target,
        email=email,
        error=error,
        notice=None,
    )
    response.set_status(401)
    return response


async def email_link(request: web.Request) -> web.Response:
    """ "Email me a sign-in link": the same answer whether or not the account exists."""
    form = await _form(request)
    check_anonymous_csrf(request, form)
    email = str(form.get("email", "")).strip()[:MAX_FIELD]
    gateway = request.app[GATEWAY]
    if "@" in email:
        async with gateway.db.session() as session:
            await email_sign_in_links(session, email, gateway.settings.base_url, now=utcnow())
        gateway.wake_outbox()
    anonymous_csrf(request)
    return page(
        request,
        "login.html",
        None,
        title="Sign in",
        next="/console/inbox",
        email=email,
        error=None,
        notice=(
            "If that email belongs to an account, a sign-in link is on its way. It works "
            "once, for 30 minutes."
        ),
    )


async def login_with_link(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    gateway = request.app[GATEWAY]
    async with gateway.db.session() as session:
        member = await member_for_link(session, token, now=utcnow())
    if member is None:
        raise ConsoleError(
            400,
            "This sign-in link does not work",
            "It has expired or was already used. Sign in with your password, or ask for a "
            "new link.",
        )
    return await _signed_in_response(request, member.id, "link", "/console/inbox")


async def logout(request: web.Request) -> web.Response:
    who = await current(request)
    gateway = request.app[GATEWAY]
    if who is not None:
        form = await _form(request)
        check_csrf(request, who, form)
        async with gateway.db.writing(), gateway.db.session() as session:
            await end_session(session, who.session_id, now=utcnow())
            # A live operator who signs out is offline at once (their customers handed on).
            await mark_offline(
                session,
                who.workspace_id,
                who.member_id,
                now=utcnow(),
                policy=gateway.live,
                reason="signed out",
            )
    response = web.HTTPFound("/console/login")
    response.del_cookie(COOKIE, path="/")
    raise response


async def invitation_page(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    gateway = request.app[GATEWAY]
    async with gateway.db.session() as session:
        opened = await open_invitation(session, token, now=utcnow())
    if opened is None:
        raise ConsoleError(
            400,
            "This invitation link does not work",
            "It has expired, was already used, or the invitation was cancelled. Ask the person "
            "who invited you to send a new one.",
        )
    anonymous_csrf(request)
    return page(
        request,
        "invitation.html",
        None,
        title="Join your team",
        invitation=opened.invitation,
        workspace_name=opened.workspace_name,
        name=opened.invitation.name or "",
        error=None,
    )


async def invitation_accept(request: web.Request) -> web.Response:
    form = await _form(request)
    check_anonymous_csrf(request, form)
    token = request.match_info["token"]
    name = str(form.get("name", ""))
    password = str(form.get("password", ""))
    gateway = request.app[GATEWAY]
    error = None
    async with gateway.db.session() as session:
        try:
            # No savepoint: on SQLite a SAVEPOINT opens a read transaction whose first write
            # fails at once ("database is locked") when another writer (the outbox sending
            # this very invitation) committed meanwhile. accept_invitation writes nothing
            # before it raises.
            member = await accept_invitation(
                session, token, name=name, password=password, now=utcnow()
            )
        except (InvitationError, WeakPassword) as exc:
            error = str(exc)
            opened = await open_invitation(session, token, now=utcnow())
    if error is None:
        return await _signed_in_response(request, member.id, "invitation", "/console/inbox")
    if opened is None:
        raise ConsoleError(400, "This invitation link does not work", error)
    anonymous_csrf(request)
    response = page(
        request,
        "invitation.html",
        None,
        title="Join your team",
        invitation=opened.invitation,
        workspace_name=opened.workspace_name,
        name=name,
        error=error,
    )
    response.set_status(400)
    return response


async def reset_request_page(request: web.Request) -> web.Response:
    anonymous_csrf(request)
    return page(request, "reset_request.html", None, title="Reset your password", notice=None)


async def reset_request_submit(request: web.Request) -> web.Response:
    form = await _form(request)
    check_anonymous_csrf(request, form)
    email = str(form.get("email", "")).strip()[:MAX_FIELD]
    gateway = request.app[GATEWAY]
    if "@" in email:
        async with gateway.db.session() as session:
            await request_password_reset(session, email, gateway.settings.base_url, now=utcnow())
        gateway.wake_outbox()
    anonymous_csrf(request)
    return page(
        request,
        "reset_request.html",
        None,
        title="Reset your password",
        notice=(
            "If that email belongs to an account, a reset link is on its way. It works once, "
            "for an hour."
        ),
    )


async def reset_page(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY]
    async with gateway.db.session() as session:
        row = await peek_token(session, request.match_info["token"], "reset", now=utcnow())
    if row is None:
        raise ConsoleError(
            400,
            "This reset link does not work",
            "It has expired or was already used. Ask for a new one.",
        )
    anonymous_csrf(request)
    return page(request, "reset.html", None, title="Choose a new password", error=None)


async def reset_submit(request: web.Request) -> web.Response:
    form = await _form(request)
    check_anonymous_csrf(request, form)
    password = str(form.get("password", ""))
    gateway = request.app[GATEWAY]
    error = None
    async with gateway.db.session() as session:
        try:
            # No savepoint (see invitation_accept): reset_password writes nothing before it
            # raises.
            member = await reset_password(
                session, request.match_info["token"], password, now=utcnow()
            )
        except (InvitationError, WeakPassword) as exc:
            error = str(exc)
    if error is None:
        return await _signed_in_response(request, member.id, "reset", "/console/inbox")
    anonymous_csrf(request)
    response = page(request, "reset.html", None, title="Choose a new password", error=error)
    response.set_status(400)
    return response


def setup(app: web.Application) -> None:
    app.router.add_get("/console/login", login_page)
    app.router.add_post("/console/login", login_submit)
    app.router.add_post("/console/login/email", email_link)
    app.router.add_get("/console/login/{token}", login_with_link)
    app.router.add_post("/console/logout", logout)
    app.router.add_get("/console/invitations/{token}", invitation_page)
    app.router.add_post("/console/invitations/{token}", invitation_accept)
    app.router.add_get("/console/reset", reset_request_page)
    app.router.add_post("/console/reset", reset_request_submit)
    app.router.add_get("/console/reset/{token}", reset_page)
    app.router.add_post("/console/reset/{token}", reset_submit)
