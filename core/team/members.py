"""Finding the member a request names: "maria", "Maria Lopez", an email, or "me"."""

from __future__ import annotations

from rapidfuzz import fuzz, process
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.team.identity import Principal
from storage.models import Member
from storage.statements import Statement


class MemberNotFound(LookupError):
    """No member, or several, match; the message is a question or statement for the user."""


async def active_members(session: AsyncSession, workspace_id: str) -> list[Member]:
    rows = await session.scalars(
        select(Member)
        .where(Member.workspace_id == workspace_id, Member.status == "active")
        .order_by(Member.name)
    )
    return list(rows)


_members = Member.__table__
_ACTIVE_NAMES = Statement(
    select(_members.c.id, _members.c.name)
    .where(_members.c.workspace_id == bindparam("workspace_id"), _members.c.status == "active")
    .order_by(_members.c.name)
)


async def active_member_names(session: AsyncSession, workspace_id: str) -> dict[str, str]:
    """Active members' names by id, in name order, as `active_members` lists them: plain
    rows where only the names are wanted."""
    rows = await _ACTIVE_NAMES.rows(session, {"workspace_id": workspace_id})
    return {member_id: name for member_id, name in rows}


async def find_by_name(session: AsyncSession, principal: Principal, name: str) -> Member:
    """The one active member NAME means; raises MemberNotFound with a clarifying message."""
    wanted = name.strip().lower()
    members = await active_members(session, principal.workspace_id)
    if wanted in ("me", "myself", "i"):
        for member in members:
            if member.id == principal.member_id:
                return member
    exact = [m for m in members if wanted in (m.name.lower(), (m.email or "").lower(), m.id)]
    if len(exact) == 1:
        return exact[0]
    first = [m for m in members if m.name.lower().split()[0] == wanted.split()[0]]
    if len(first) == 1 and (len(wanted.split()) == 1 or exact == []):
        return first[0]
    if len(first) > 1:
        names = ", ".join(m.name for m in first)
        raise MemberNotFound(f"Which {name} do you mean: {names}?")
    choices = {m.id: m.name.lower() for m in members}
    match = process.extractOne(wanted, choices, scorer=fuzz.WRatio, score_cutoff=85)
    if match is not None:
        return next(m for m in members if m.id == match[2])
    raise MemberNotFound(f"I can't find a team member called {name}.")
