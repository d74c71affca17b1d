"""Invitations and password resets by email: single-use links, accepted in the console."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.team.directory import audit
from core.team.signin import (
    TOKEN_LIFETIME,
    Purpose,
    active_members_by_email,
    check_password_policy,
    end_member_sessions,
    hash_password,
    issue_token,
    peek_token,
    sign_in_link,
    use_token,
)
from delivery.outbox.queue import enqueue
from models.deliverable import Deliverable
from models.task import Route
from storage.domain import Invitation
from storage.models import Member, OneTimeToken, Workspace
from storage.types import new_id

# Where links point when the caller knows no better (a proposal decided without the gateway's
# settings, as tests do): the gateway's default listening address, Settings().base_url.
DEFAULT_BASE_URL = "http://127.0.0.1:8080"


class InvitationError(ValueError):
    """The invitation cannot be accepted or cancelled; the message says why."""


def _days(purpose: Purpose) -> str:
    """How long a PURPOSE link lives, in words: "7 days", "1 hour", "30 minutes"."""
    minutes = int(TOKEN_LIFETIME[purpose].total_seconds() // 60)
    hours = minutes // 60
    if hours >= 48:
        return f"{hours // 24} days"
    if hours >= 1:
        return f"{hours} hour{'s' * (hours != 1)}"
    return f"{minutes} minutes"


def _email_member(session: AsyncSession, member: Member, title: str, text: str, kind: str) -> None:
    """Queue one email to MEMBER in the caller's transaction."""
    assert member.email is not None
    enqueue(
        session,
        workspace_id=member.workspace_id,
        route=Route(channel="email", address=member.email),
        deliverables=[Deliverable(text=text, title=title)],
        dedupe_prefix=f"{kind}:{member.id}:{new_id()}",
    )


async def send_invitation(
    session: AsyncSession, invitation: Invitation, base_url: str, *, now: datetime
) -> str:
    """Emails INVITATION its acceptance link (queued in the caller's transaction); earlier links
    for it stop working. Returns the link."""
    await session.execute(
        update(OneTimeToken)
        .where(OneTimeToken.invitation_id == invitation.id, OneTimeToken.used_at.is_(None))
        .values(used_at=now)
    )
    token = await issue_token(
        session, invitation.workspace_id, "invitation", now=now, invitation_id=invitation.id
    )
    link = f"{base_url.rstrip('/')}/console/invitations/{token}"
    workspace = await session.get(Workspace, invitation.workspace_id)
    team = workspace.name if workspace is not None else "the team"
    inviter = await session.get(Member, invitation.invited_by) if invitation.invited_by else None
    by = f"{inviter.name} invited you" if inviter is not None else "You are invited"
    text = (
        f"{by} to join {team} on Switchboard as {invitation.role}.\n\n"
        f"Accept the invitation and choose your password here:\n{link}\n\n"
        f"The link works once and expires in {_days('invitation')}. If you did not expect "
        "this invitation, ignore this email."
    )
    enqueue(
        session,
        workspace_id=invitation.workspace_id,
        route=Route(channel="email", address=invitation.email),
        deliverables=[Deliverable(text=text, title=f"Join {team} on Switchboard")],
        dedupe_prefix=f"invitation:{invitation.id}:{new_id()}",
    )
    invitation.sent_at = now
    return link


async def invitations_to_send(
    session: AsyncSession, workspace_id: str, invitation_ids: list[str]
) -> list[Invitation]:
    if not invitation_ids:
        return []
    return list(
        await session.scalars(
            select(Invitation).where(
                Invitation.workspace_id == workspace_id,
                Invitation.id.in_(invitation_ids),
                Invitation.status == "pending",
            )
        )
    )


async def settle_invitations(
    session: AsyncSession,
    workspace_id: str,
    invitation_ids: Iterable[str],
    base_url: str,
    *,
    actor: str,
    now: datetime,
) -> list[str]:
    """After a write created, renewed, cancelled or removed the invitations INVITATION_IDS (in
    the caller's transaction, so the email goes out exactly when the write commits): each one
    now pending is emailed a fresh acceptance link; every other one's links stop working.
    Returns the addresses emailed."""
    ids = sorted(set(invitation_ids))
    if not ids:
        return []
    pending = await invitations_to_send(session, workspace_id, ids)
    for invitation in pending:
        await send_invitation(session, invitation, base_url, now=now)
        await audit(session, workspace_id, actor, "invitation.send", target=invitation.email)
    withdrawn = set(ids) - {invitation.id for invitation in pending}
    if withdrawn:
        await session.execute(
            update(OneTimeToken)
            .where(
                OneTimeToken.workspace_id == workspace_id,
                OneTimeToken.invitation_id.in_(withdrawn),
                OneTimeToken.used_at.is_(None),
            )
            .values(used_at=now)
        )
    return [invitation.email for invitation in pending]


async def resend_invitation(
    session: AsyncSession,
    workspace_id: str,
    invitation_id: str,
    base_url: str,
    *,
    actor: str,
    now: datetime,
) -> Invitation:
    """Emails a pending invitation a new link (the earlier ones stop working), audited. Raises
    InvitationError when there is no such pending invitation."""
    invitation = await session.get(Invitation, invitation_id)
    if invitation is None or invitation.workspace_id != workspace_id:
        raise InvitationError("No such invitation.")
    if invitation.status != "pending":
        raise InvitationError(f"The invitation for {invitation.email} is {invitation.status}.")
    await send_invitation(session, invitation, base_url, now=now)
    await audit(session, workspace_id, actor, "invitation.resend", target=invitation.email)
    return invitation


async def pending_invitations(session: AsyncSession, workspace_id: str) -> list[Invitation]:
    return list(
        await session.scalars(
            select(Invitation)
            .where(Invitation.workspace_id == workspace_id, Invitation.status == "pending")
            .order_by(Invitation.created_at.desc(), Invitation.id)
        )
    )


@dataclass(frozen=True)
class OpenInvitation:
    invitation: Invitation
    workspace_name: str


async def open_invitation(
    session: AsyncSession, token: str, *, now: datetime
) -> OpenInvitation | None:
    """The pending invitation TOKEN opens, without using the link (to show the form)."""
    row = await peek_token(session, token, "invitation", now=now)
    if row is None or row.invitation_id is None:
        return None
    invitation = await session.get(Invitation, row.invitation_id)
    if invitation is None or invitation.status != "pending":
        return None
    workspace = await session.get(Workspace, invitation.workspace_id)
    return OpenInvitation(invitation, workspace.name if workspace is not None else "")


async def accept_invitation(
    session: AsyncSession, token: str, *, name: str, password: str, now: datetime
) -> Member:
    """Uses the invitation link: creates the active member with NAME and PASSWORD. Raises
    InvitationError (used, expired, cancelled, email taken) or WeakPassword; nothing changes
    then."""
    name = " ".join(name.split())
    if not name or len(name) > 200:
        raise InvitationError("Give your name (up to 200 characters).")
    opened = await open_invitation(session, token, now=now)
    if opened is None:
        raise InvitationError("This invitation link has expired, was used, or was cancelled.")
    invitation = opened.invitation
    check_password_policy(password, email=invitation.email)
    taken = await session.scalar(
        select(Member).where(
            Member.workspace_id == invitation.workspace_id, Member.email == invitation.email
        )
    )
    if taken is not None:
        raise InvitationError(f"{invitation.email} is already a member of this workspace.")
    if await use_token(session, token, "invitation", now=now) is None:
        raise InvitationError("This invitation link has expired, was used, or was cancelled.")
    member = Member(
        id=new_id(),
        workspace_id=invitation.workspace_id,
        name=name,
        email=invitation.email,
        role=invitation.role,
        status="active",
        password_hash=hash_password(password),
        created_at=now,
    )
    session.add(member)
    invitation.status = "accepted"
    invitation.accepted_at = now
    if not invitation.name:
        invitation.name = name
    await session.flush()
    await audit(
        session,
        invitation.workspace_id,
        f"member:{member.id}",
        "invitation.accept",
        target=invitation.email,
        details={"role": invitation.role},
    )
    return member


async def cancel_invitation(
    session: AsyncSession, workspace_id: str, invitation_id: str, *, actor: str, now: datetime
) -> Invitation:
    """Cancels a pending invitation; its link stops working. Raises InvitationError."""
    invitation = await session.get(Invitation, invitation_id)
    if invitation is None or invitation.workspace_id != workspace_id:
        raise InvitationError("No such invitation.")
    if invitation.status != "pending":
        raise InvitationError(f"The invitation for {invitation.email} is {invitation.status}.")
    invitation.status = "cancelled"
    await session.execute(
        update(OneTimeToken)
        .where(OneTimeToken.invitation_id == invitation.id, OneTimeToken.used_at.is_(None))
        .values(used_at=now)
    )
    await audit(session, workspace_id, actor, "invitation.cancel", target=invitation.email)
    return invitation


async def request_password_reset(
    session: AsyncSession, email: str, base_url: str, *, now: datetime
) -> int:
    """Emails a reset link to every active account with EMAIL; returns how many (the page
    says the same whatever the count, so it reveals no account)."""
    members = await active_members_by_email(session, email)
    for member in members:
        assert member.email is not None
        token = await issue_token(
            session, member.workspace_id, "reset", now=now, member_id=member.id
        )
        link = f"{base_url.rstrip('/')}/console/reset/{token}"
        workspace = await session.get(Workspace, member.workspace_id)
        team = workspace.name if workspace is not None else "your workspace"
        _email_member(
            session,
            member,
            "Reset your Switchboard password",
            f"Someone asked to reset your Switchboard password for {team}.\n\n"
            f"Choose a new password here:\n{link}\n\n"
            f"The link works once and expires in {_days('reset')}. If it was not you, ignore "
            "this email: your password stays as it is.",
            "reset",
        )
        await audit(
            session, member.workspace_id, "console", "password.reset_requested", member.email
        )
    return len(members)


async def email_sign_in_links(
    session: AsyncSession, email: str, base_url: str, *, now: datetime
) -> int:
    """ "Email me a sign-in link": a one-time link to every active account with EMAIL; returns
    how many (the page says the same whatever the count, so it reveals no account)."""
    members = await active_members_by_email(session, email)
    for member in members:
        link = await sign_in_link(session, member, base_url, now=now)
        _email_member(
            session,
            member,
            "Your Switchboard sign-in link",
            f"Sign in to Switchboard with this link:\n{link}\n\n"
            f"It works once and expires in {_days('signin')}. If you did not ask for it, "
            "ignore this email.",
            "signin-link",
        )
    return len(members)


async def reset_password(
    session: AsyncSession, token: str, password: str, *, now: datetime
) -> Member:
    """Uses a reset link: sets PASSWORD and signs the member out everywhere. Raises
    InvitationError (bad link) or WeakPassword."""
    row = await peek_token(session, token, "reset", now=now)
    member = await session.get(Member, row.member_id) if row and row.member_id else None
    if member is None or member.status != "active":
        raise InvitationError("This reset link has expired or was used. Ask for a new one.")
    check_password_policy(password, email=member.email)
    if await use_token(session, token, "reset", now=now) is None:
        raise InvitationError("This reset link has expired or was used. Ask for a new one.")
    member.password_hash = hash_password(password)
    await end_member_sessions(session, member.id, now=now)
    await audit(session, member.workspace_id, f"member:{member.id}", "password.reset", member.email)
    return member
