"""The member's own profile: name, time zone, availability, password, a code to link a chat
account, signing out everywhere."""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from functools import cache
from typing import Any

from aiohttp import web

from api.console.actions import read_form, text_field
from api.console.linking import chat_channels
from api.console.session import COOKIE, ConsoleError, check_csrf, current, login_redirect, page
from api.state import GATEWAY
from core.live.sessions import mark_offline
from core.routing.assignment import routes
from core.routing.availability import effective_availability, set_availability
from core.routing.schedule import describe as describe_schedule
from core.team.access import can
from core.team.directory import audit
from core.team.linking import instruction, issue_code, link_secret
from core.team.signin import (
    SignedIn,
    SignInError,
    WeakPassword,
    change_password,
    end_member_sessions,
)
from storage.models import Member, Workspace
from storage.types import utcnow

NOTICES = {
    "profile": "Your profile is saved.",
    "available": "You are available.",
    "offline": "You are offline.",
    "password": "Your password is changed. Every other session of yours is signed out; this "
    "one stays.",
}


@cache
def time_zones() -> tuple[str, ...]:
    """IANA time zone names, sorted (the legacy aliases without a region left out)."""
    return tuple(sorted(z for z in zoneinfo.available_timezones() if "/" in z or z == "UTC"))


async def _signed_in(request: web.Request) -> SignedIn:
    """Every signed-in member has a profile, whatever their role."""
    who = await current(request)
    if who is None:
        raise login_redirect(request)
    return who


async def _profile_page(
    request: web.Request,
    who: SignedIn,
    *,
    status: int = 200,
    error: str | None = None,
    password_error: str | None = None,
    name: str | None = None,
    timezone: str | None = None,
    link_code: dict[str, Any] | None = None,
) -> web.Response:
    gateway = request.app[GATEWAY]
    async with gateway.db.session() as session:
        member = await session.get(Member, who.member_id)
        workspace = await session.get(Workspace, who.workspace_id)
    assert member is not None and workspace is not None
    notice = NOTICES.get(request.query.get("saved", "")) if status == 200 else None
    now = utcnow()
    response = page(
        request,
        "profile.html",
        who,
        title="Your profile",
        name=member.name if name is None else name,
        timezone=(member.timezone or "") if timezone is None else timezone,
        workspace_timezone=workspace.timezone or "UTC",
        zones=time_zones(),
        has_password=member.password_hash is not None,
        error=error,
        password_error=password_error,
        notice=notice,
        now=now,
        availability=_availability_view(who, member, workspace, now),
        chat_channels=chat_channels(gateway),
        link_code=link_code,
    )
    response.set_status(status)
    return response


def may_set_own_availability(who: SignedIn, workspace: Workspace) -> bool:
    """Members with AI Inbox access set their own, unless an owner or admin manages it."""
    if not can(who.role, workspace.plan, "inbox"):
        return False
    return not workspace.availability_managed or who.role in ("owner", "admin")


def _availability_view(
    who: SignedIn, member: Member, workspace: Workspace, now: datetime
) -> dict[str, Any] | None:
    if not can(who.role, workspace.plan, "inbox"):
        return None
    value = effective_availability(member, now, workspace.timezone or "UTC")
    until = member.availability_until
    if until is not None and until <= now:
        until = None
    return {
        "value": value,
        "until": until,
        "scheduled": bool(member.work_schedule),
        "schedule": describe_schedule(member.work_schedule),
        "may_set": may_set_own_availability(who, workspace),
        "routes": routes(workspace.plan),
    }


async def save_availability(request: web.Request) -> web.Response:
    """The member's own availability toggle (until their schedule's next change)."""
    who = await _signed_in(request)
    form = await read_form(request)
    check_csrf(request, who, form)
    value = text_field(form, "availability", 20)
    gateway = request.app[GATEWAY]
    async with gateway.db.session() as session:
        workspace = await session.get(Workspace, who.workspace_id)
        assert workspace is not None
        if not may_set_own_availability(who, workspace):
            raise ConsoleError(
                403,
                "Availability is managed",
                "An owner or admin sets availability in this workspace.",
            )
        if value not in ("available", "offline"):
            raise ConsoleError(400, "Choose available or offline", "Nothing was changed.")
        base = gateway.settings.public_base_url
        await set_availability(
            session,
            who.workspace_id,
            who.member_id,
            "available" if value == "available" else "offline",
            actor=f"member:{who.member_id}",
            now=utcnow(),
            base_url=str(base) if base else None,
        )
    raise web.HTTPFound(f"/console/profile?saved={value}")


async def profile(request: web.Request) -> web.Response:
    who = await _signed_in(request)
    return await _profile_page(request, who)


async def save_profile(request: web.Request) -> web.Response:
    """Name and time zone (empty: the workspace's)."""
    who = await _signed_in(request)
    form = await read_form(request)
    check_csrf(request, who, form)
    name = " ".join(text_field(form, "name", 400).split())
    timezone = text_field(form, "timezone", 64)
    if not name or len(name) > 200:
        error = "Give your name (up to 200 characters)."
    elif timezone and timezone not in time_zones():
        error = "Choose a time zone from the list."
    else:
        error = None
    if error is not None:
        return await _profile_page(
            request, who, status=400, error=error, name=name, timezone=timezone
        )
    gateway = request.app[GATEWAY]
    async with gateway.db.session() as session:
        member = await session.get(Member, who.member_id)
        assert member is not None
        changed = {
            field: value
            for field, value in (("name", name), ("timezone", timezone or None))
            if getattr(member, field) != value
        }
        if changed:
            member.name = name
            member.timezone = timezone or None
            await audit(
                session,
                who.workspace_id,
                f"member:{who.member_id}",
                "profile.update",
                target=member.email,
                details={"changed": sorted(changed)},
            )
    raise web.HTTPFound("/console/profile?saved=profile")


async def save_password(request: web.Request) -> web.Response:
    """A new password: the current one first (when there is one); every other session of the
    member ends, this one stays."""
    who = await _signed_in(request)
    form = await read_form(request)
    check_csrf(request, who, form)
    current_password = str(form.get("current", ""))
    new = str(form.get("password", ""))
    gateway = request.app[GATEWAY]
    error = None
    async with gateway.db.session() as session:
        member = await session.get(Member, who.member_id)
        assert member is not None
        try:
            if new != str(form.get("confirm", "")):
                raise WeakPassword("The two new passwords differ; nothing was changed.")
            # No savepoint: a wrong current password is recorded (and throttled) when this
            # transaction commits; change_password changes nothing before it raises.
            await change_password(
                session,
                member,
                current_password,
                new,
                keep=who.session_id,
                address=(request.remote or "unknown"),
                now=utcnow(),
            )
        except (SignInError, WeakPassword) as exc:
            error = str(exc)
    if error is not None:
        return await _profile_page(request, who, status=400, password_error=error)
    raise web.HTTPFound("/console/profile?saved=password")


async def new_link_code(request: web.Request) -> web.Response:
    """A fresh link code for the member (their earlier one stops working), shown on this
    response's page only: never in a URL, never cached."""
    who = await _signed_in(request)
    form = await read_form(request)
    check_csrf(request, who, form)
    gateway = request.app[GATEWAY]
    async with gateway.db.session() as session:
        member = await session.get(Member, who.member_id)
        assert member is not None
        issued = await issue_code(
            session,
            member,
            secret=link_secret(gateway.settings),
            now=utcnow(),
            actor=f"member:{who.member_id}",
        )
    response = await _profile_page(
        request,
        who,
        link_code={
            "code": issued.code,
            "expires_at": issued.expires_at,
            "instruction": instruction(issued.code, chat_channels(gateway)),
        },
    )
    response.headers["Cache-Control"] = "no-store"
    return response


async def sign_out_everywhere(request: web.Request) -> web.Response:
    """Ends every session of the member, this one included (a lost laptop, a shared computer)."""
    who = await _signed_in(request)
    form = await read_form(request)
    check_csrf(request, who, form)
    gateway = request.app[GATEWAY]
    async with gateway.db.writing(), gateway.db.session() as session:
        ended = await end_member_sessions(session, who.member_id, now=utcnow())
        await mark_offline(
            session,
            who.workspace_id,
            who.member_id,
            now=utcnow(),
            policy=gateway.live,
            reason="signed out",
        )
        await audit(
            session,
            who.workspace_id,
            f"member:{who.member_id}",
            "console.sign_out_everywhere",
            target=who.email,
            details={"sessions_ended": ended},
        )
    response = web.HTTPFound("/console/login")
    response.del_cookie(COOKIE, path="/")
    raise response


def setup(app: web.Application) -> None:
    app.router.add_get("/console/profile", profile)
    app.router.add_post("/console/profile", save_profile)
    app.router.add_post("/console/profile/password", save_password)
    app.router.add_post("/console/profile/availability", save_availability)
    app.router.add_post("/console/profile/link-code", new_link_code)
    app.router.add_post("/console/profile/sign-out-everywhere", sign_out_everywhere)
