"""Telling the team about an assist: an email to its assignee, or to the owners, admins and
managers when nobody is assigned, through the outbox."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.assists.email_identity import EmailIdentity
from delivery.outbox.queue import enqueue
from models.deliverable import CardField, Deliverable
from models.task import Route
from storage.domain import Assist
from storage.models import Member

TEAM_ROLES = ("owner", "admin", "manager")


async def team_recipients(session: AsyncSession, assist: Assist) -> list[Member]:
    """The assignee when there is one with an email, else the owners, admins and managers."""
    if assist.assignee_id:
        assignee = await session.get(Member, assist.assignee_id)
        if (
            assignee is not None
            and assignee.workspace_id == assist.workspace_id
            and assignee.status == "active"
            and assignee.email
        ):
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


async def notify_team(
    session: AsyncSession,
    assist: Assist,
    *,
    title: str,
    text: str,
    dedupe_key: str,
    identity: EmailIdentity,
    fields: tuple[CardField, ...] = (),
) -> list[str]:
    """Email the assignee (or the team) through the outbox; returns the addresses."""
    addresses = []
    for member in await team_recipients(session, assist):
        assert member.email is not None
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
            route=Route(channel="email", address=member.email),
            deliverables=[deliverable],
            dedupe_prefix=f"{dedupe_key}:{member.id}",
        )
        addresses.append(member.email)
    return addresses
