"""The team page: members and their roles, pending invitations, inviting someone, and the team's
notification addresses (owner/admin)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy import select

from api.console.actions import execute_own_click, principal_of, read_form, text_field
from api.console.session import ConsoleError, check_csrf, page, require
from api.state import GATEWAY
from core.team.directory import audit
from core.team.invitations import (
    InvitationError,
    cancel_invitation,
    pending_invitations,
    resend_invitation,
)
from core.team.roster import ROLE_ORDER, roster
from core.team.signin import TOKEN_LIFETIME, SignedIn
from core.tools.args import InviteMemberArgs
from core.tools.writes.team import invitation_draft, member_update_draft
from storage.db import Database
from storage.domain import Invitation
from storage.models import Member, Workspace
from storage.types import utcnow

MAX_ADDRESSES = 20
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
CHANNEL_NAMES = {
    "slack": "Slack",
    "telegram": "Telegram",
    "sms": "SMS",
    "whatsapp": "WhatsApp",
    "email": "Email",
    "voice": "Phone",
    "web": "Web",
}
ROLE_HELP = {
    "support": "the AI Inbox: view and reply to assists, notes, status and priority.",
    "manager": "the AI Inbox; on Enterprise also the operator's inbox tools and Management.",
    "admin": "everything the plan includes (inbox, operator, history, team, AI agents, "
    "integrations) except adding or changing owners.",
    "owner": "everything, including adding and changing owners.",
}


def _roles_for(who: SignedIn) -> list[str]:
    """The roles WHO may give: owners only may make owners (the rule the tools apply too)."""
    return [r for r in reversed(ROLE_ORDER) if r != "owner" or who.role == "owner"]


async def _notice(
    db: Database, who: SignedIn, query: Mapping[str, str], *, email_on: bool
) -> str | None:
    """The line shown after a change (Post/Redirect/Get), built from our own rows, never from
    text in the URL. EMAIL_ON: whether emails really leave (else they are printed in the
    gateway's output, and the line says so)."""
    days = TOKEN_LIFETIME["invitation"].days
    sent = {
        "invited": "Invitation emailed to {}.",
        "resent": "A new link was emailed to {}; earlier links no longer work.",
    }
    if not email_on:
        sent = {
            "invited": "Invitation made for {}.",
            "resent": "A new link was made for {}; earlier links no longer work.",
        }
    async with db.session() as session:
        for key in ("invited", "resent", "cancelled"):
            ref = query.get(key)
            invitation = await session.get(Invitation, ref) if ref else None
            if invitation is None or invitation.workspace_id != who.workspace_id:
                continue
            if key == "cancelled":
                return (
                    f"The invitation for {invitation.email} is cancelled; its link no longer works."
                )
            said = sent[key].format(invitation.email) + f" The link works once, for {days} days."
            if not email_on:
                said += (
                    " Email is not set up on this gateway, so the email with the link was "
                    "printed in the gateway's output instead: pass the link on yourself."
                )
            return said
        if query.get("notifications") == "saved":
            return "Team notifications are saved."
        ref = query.get("updated")
        if ref:
            member = await session.get(Member, ref)
            if member is not None and member.workspace_id == who.workspace_id:
                if member.status != "active":
                    return f"{member.name} is removed from the team and signed out."
                return f"{member.name} is now {member.role} and active."
    return None


async def _team_page(
    request: web.Request,
    who: SignedIn,
    *,
    status: int = 200,
    error: str | None = None,
    invite: dict[str, str] | None = None,
    notifications_error: str | None = None,
    addresses: str | None = None,
) -> web.Response:
    gateway = request.app[GATEWAY]
    now = utcnow()
    async with gateway.db.session() as session:
        members = await roster(session, who.workspace_id)
        invitations = await pending_invitations(session, who.workspace_id)
        workspace = await session.get(Workspace, who.workspace_id)
    assert workspace is not None
    names = {entry.member.id: entry.member.name for entry in members}
    lifetime = TOKEN_LIFETIME["invitation"]
    pending = [
        {
            "invitation": inv,
            "invited_by": names.get(inv.invited_by or "", "—"),
            "expired": inv.sent_at is not None and inv.sent_at + lifetime <= now,
        }
        for inv in invitations
    ]
    email_on = "email" in gateway.channels
    notice = None
    if error is None:
        notice = await _notice(gateway.db, who, request.query, email_on=email_on)
    response = page(
        request,
        "team.html",
        who,
        title="Team",
        members=members,
        pending=pending,
        roles=_roles_for(who),
        role_help=ROLE_HELP,
        channel_names=CHANNEL_NAMES,
        invite=invite or {"email": "", "name": "", "role": "support"},
        invite_days=lifetime.days,
        email_on=email_on,
        error=error,
        notice=notice,
        now=now,
        notifications_error=notifications_error,
        notification_addresses=(
            "\n".join(workspace.notification_addresses or []) if addresses is None else addresses
        ),
        availability_managed=workspace.availability_managed,
        max_addresses=MAX_ADDRESSES,
        slack_email_linking=workspace.slack_email_linking,
        slack_on="slack" in gateway.channels,
        linking_saved=request.query.get("linking") == "saved",
        country=workspace.country or "",
        country_note=request.query.get("country"),
    )
    response.set_status(status)
    return response


async def team(request: web.Request) -> web.Response:
    who = await require(request, "team")
    return await _team_page(request, who)


def _invalid(exc: ValidationError) -> str:
    fields = {str(e["loc"][0]) for e in exc.errors() if e.get("loc")}
    if "email" in fields:
        return "Enter the email address to invite, like jo@example.com."
    if "role" in fields:
        return "Choose one of the roles listed."
    return "Give a name of up to 200 characters, or leave it empty."


async def invite(request: web.Request) -> web.Response:
    """Invite form: the member's click is the approval; the invitation is created (or a
    cancelled one renewed) and its link emailed by the same path as an approved invite_member."""
    who = await require(request, "team")
    form = await read_form(request)
    check_csrf(request, who, form)
    values = {
        "email": text_field(form, "email"),
        "name": text_field(form, "name", 200),
        "role": text_field(form, "role", 20),
    }
    try:
        args = InviteMemberArgs.model_validate(
            {"email": values["email"], "name": values["name"] or None, "role": values["role"]}
        )
    except ValidationError as exc:
        return await _team_page(request, who, status=400, error=_invalid(exc), invite=values)
    gateway = request.app[GATEWAY]
    error = None
    async with gateway.db.session() as session:
        draft = await invitation_draft(session, principal_of(who), args)
        if isinstance(draft, list):
            error = draft[0].text
        else:
            decision = await execute_own_click(session, gateway, who, draft, now=utcnow())
            if not decision.executed:
                error = decision.message
        invitation = await session.scalar(
            select(Invitation).where(
                Invitation.workspace_id == who.workspace_id, Invitation.email == args.email
            )
        )
    if error is not None or invitation is None:
        message = error or "The invitation could not be made."
        return await _team_page(request, who, status=400, error=message, invite=values)
    gateway.wake_outbox()
    raise web.HTTPFound(f"/console/team?invited={invitation.id}")


async def cancel(request: web.Request) -> web.Response:
    """Cancel a pending invitation (the member's click on the row showing it is the approval)."""
    who = await require(request, "team")
    form = await read_form(request)
    check_csrf(request, who, form)
    invitation_id = request.match_info["invitation_id"]
    gateway = request.app[GATEWAY]
    error = None
    async with gateway.db.session() as session:
        try:
            await cancel_invitation(
                session,
                who.workspace_id,
                invitation_id,
                actor=f"member:{who.member_id}",
                now=utcnow(),
            )
        except InvitationError as exc:
            error = str(exc)
    if error is not None:
        return await _team_page(request, who, status=400, error=error)
    raise web.HTTPFound(f"/console/team?cancelled={invitation_id}")


async def resend(request: web.Request) -> web.Response:
    who = await require(request, "team")
    form = await read_form(request)
    check_csrf(request, who, form)
    invitation_id = request.match_info["invitation_id"]
    gateway = request.app[GATEWAY]
    error = None
    async with gateway.db.session() as session:
        try:
            await resend_invitation(
                session,
                who.workspace_id,
                invitation_id,
                gateway.settings.base_url,
                actor=f"member:{who.member_id}",
                now=utcnow(),
            )
        except InvitationError as exc:
            error = str(exc)
    if error is not None:
        return await _team_page(request, who, status=400, error=error)
    gateway.wake_outbox()
    raise web.HTTPFound(f"/console/team?resent={invitation_id}")


async def update_member(request: web.Request) -> web.Response:
    """Change a member's role, remove or reactivate them: the rules of the update_member tool,
    executed at once (the click on the row showing the member is the approval)."""
    who = await require(request, "team")
    form = await read_form(request)
    check_csrf(request, who, form)
    action = text_field(form, "action", 20)
    role = text_field(form, "role", 20) or None
    if action not in ("role", "remove", "reactivate") or (
        action == "role" and role not in ROLE_ORDER
    ):
        raise ConsoleError(400, "Nothing to change", "Choose a role, Remove or Reactivate.")
    gateway = request.app[GATEWAY]
    error = None
    async with gateway.db.session() as session:
        member = await session.get(Member, request.match_info["member_id"])
        if member is None or member.workspace_id != who.workspace_id:
            raise ConsoleError(404, "No such member", "That member is not on this team.")
        active = {"role": None, "remove": False, "reactivate": True}[action]
        draft = await member_update_draft(
            session,
            principal_of(who),
            member,
            role if action == "role" else None,
            active,
        )
        if isinstance(draft, list):  # refused, or nothing to change: the tool's own words
            error = draft[0].text
        else:
            decision = await execute_own_click(session, gateway, who, draft, now=utcnow())
            if not decision.executed:
                error = decision.message
        member_id = member.id
    if error is not None:
        return await _team_page(request, who, status=400, error=error)
    raise web.HTTPFound(f"/console/team?updated={member_id}")


async def save_notifications(request: web.Request) -> web.Response:
    """The team's notification addresses and (Enterprise) whether owners and admins manage
    availability."""
    who = await require(request, "team")
    form = await read_form(request)
    check_csrf(request, who, form)
    raw = text_field(form, "addresses", 4000)
    found = [a.strip().lower() for a in re.split(r"[\s,;]+", raw) if a.strip()]
    wrong = [a for a in found if not _EMAIL.fullmatch(a)]
    error = None
    if wrong:
        error = f"{wrong[0]} is not an email address; nothing was saved."
    elif len(set(found)) > MAX_ADDRESSES:
        error = f"Give at most {MAX_ADDRESSES} addresses; nothing was saved."
    if error is not None:
        return await _team_page(request, who, status=400, notifications_error=error, addresses=raw)
    addresses = list(dict.fromkeys(found))
    gateway = request.app[GATEWAY]
    async with gateway.db.session() as session:
        workspace = await session.get(Workspace, who.workspace_id)
        assert workspace is not None
        managed = workspace.availability_managed
        if who.plan == "enterprise":
            managed = form.get("availability_managed") == "1"
        if (addresses, managed) != (
            workspace.notification_addresses or [],
            workspace.availability_managed,
        ):
            workspace.notification_addresses = addresses
            workspace.availability_managed = managed
            await audit(
                session,
                who.workspace_id,
                f"member:{who.member_id}",
                "workspace.notifications",
                details={"addresses": addresses, "availability_managed": managed},
            )
    raise web.HTTPFound("/console/team?notifications=saved")


def setup(app: web.Application) -> None:
    app.router.add_get("/console/team", team)
    app.router.add_post("/console/team/invitations", invite)
    app.router.add_post("/console/team/invitations/{invitation_id}/cancel", cancel)
    app.router.add_post("/console/team/invitations/{invitation_id}/resend", resend)
    app.router.add_post("/console/team/members/{member_id}", update_member)
    app.router.add_post("/console/team/notifications", save_notifications)
