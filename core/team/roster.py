"""The team as the console lists it: every member with the channels they are linked on."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ChannelIdentity, Member

ROLE_ORDER = ("owner", "admin", "manager", "support")


@dataclass(frozen=True)
class RosterEntry:
    member: Member
    channels: tuple[ChannelIdentity, ...]


def _rank(member: Member) -> tuple[int, int, str]:
    role = ROLE_ORDER.index(member.role) if member.role in ROLE_ORDER else len(ROLE_ORDER)
    return (member.status != "active", role, member.name.lower())


async def roster(session: AsyncSession, workspace_id: str) -> list[RosterEntry]:
    """Every member of WORKSPACE_ID, active ones first, by role then name."""
    members = list(await session.scalars(select(Member).where(Member.workspace_id == workspace_id)))
    links: dict[str, list[ChannelIdentity]] = {}
    for identity in await session.scalars(
        select(ChannelIdentity)
        .where(ChannelIdentity.workspace_id == workspace_id)
        .order_by(ChannelIdentity.channel, ChannelIdentity.address)
    ):
        links.setdefault(identity.member_id, []).append(identity)
    return [RosterEntry(m, tuple(links.get(m.id, ()))) for m in sorted(members, key=_rank)]
