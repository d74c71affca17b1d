"""Telling the team about an assist: its assignee by email and on their default linked channel;
when nobody is assigned, every owner, admin, manager and support member by email and the
workspace's team notification addresses (`workspaces.notification_addresses`). Through the
outbox, in the caller's transaction."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.assists.email_identity import EmailIdentity
from core.routing.notices import tell_member
from delivery.outbox.queue import enqueue
from models.deliverable import CardField, Deliverable
from models.task import Route
from storage.domain import Assist
from storage.models import Member, Workspace

TEAM_ROLES = ("owner", "admin", "manager", "support")


async def team_recipients(session: AsyncSession, assist: Assist) -> list[Member]:
    """The assignee when there is one with an email, else the team's members with an email."""
    assignee = await _assignee(session, assist)
    if assignee is not None and assignee.email:
        return [assignee]
    rows = await session.scalars(
        select(Member)
        .where(
            Member.workspace_id == assist.workspace_id,
            Member.status == "active",
            Member.role.in_(TEAM_ROLES),
            Member.email.is_not(None),
        )
        .order_by(Member.name)
    )
    return list(rows)


async def _assignee(session: AsyncSession, assist: Assist) -> Member | None:
    if not assist.assignee_id:
        return None
    member = await session.get(Member, assist.assignee_id)
    if member is None or member.workspace_id != assist.workspace_id or member.status != "active":
        return None
    return member


async def team_addresses(session: AsyncSession, workspace_id: str) -> list[str]:
    """The workspace's team notification addresses (lowercased, in the order kept)."""
    workspace = await session.get(Workspace, workspace_id)
    found = workspace.notification_addresses if workspace is not None else []
    return [str(a).strip().lower() for a in found or [] if str(a).strip()]


async def notify_team(
    session: AsyncSession,
    assist: Assist,
    *,
    title: str,
    text: str,
    dedupe_key: str,
    identity: EmailIdentity | None = None,
    fields: tuple[CardField, ...] = (),
    link: str | None = None,
) -> list[str]:
    """Tell the assignee (email and default channel; the short message is TITLE and LINK), or
    email the team and its notification addresses; returns the addresses."""
    assignee = await _assignee(session, assist)
    if assignee is not None:
        short = f"{title} {link}" if link else title
        told = await tell_member(
            session,
            assist,
            assignee,
            title=title,
            text=text,
            dedupe_key=dedupe_key,
            fields=fields,
            short=short,
        )
        if told:
            return told
    addresses = [m.email for m in await team_recipients(session, assist) if m.email]
    addresses += await team_addresses(session, assist.workspace_id)
    sent = []
    for address in dict.fromkeys(a.lower() for a in addresses):
        deliverable = Deliverable(
            kind="card" if fields else "text",
            title=title,
            text=text,
            fields=fields,
            data={"email": {"workspace_id": assist.workspace_id, "subject": title}},
        )
        enqueue(
            session,
            workspace_id=assist.workspace_id,
            route=Route(channel="email", address=address),
            deliverables=[deliverable],
            dedupe_prefix=f"{dedupe_key}:{address}",
        )
        sent.append(address)
    return sent
