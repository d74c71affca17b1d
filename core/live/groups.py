"""Operator groups: a name, a description, the workflows they handle (AI agents, each serving
its channels) and their members; a member may be in several groups."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.team.directory import Conflict, DirectoryError, NotFound, audit
from storage.domain import AiAgent
from storage.live import OperatorGroup, OperatorGroupAgent, OperatorGroupMember
from storage.models import Member

NAME_MAX = 120
DESCRIPTION_MAX = 1000


@dataclass
class GroupView:
    group: OperatorGroup
    agents: list[AiAgent] = field(default_factory=list)
    members: list[Member] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        g = self.group
        return {
            "id": g.id,
            "name": g.name,
            "description": g.description,
            "workflows": [{"id": a.id, "name": a.name} for a in self.agents],
            "members": [{"id": m.id, "name": m.name, "email": m.email} for m in self.members],
            "created_at": g.created_at.isoformat(),
            "updated_at": g.updated_at.isoformat(),
        }


async def list_groups(session: AsyncSession, workspace_id: str) -> list[GroupView]:
    groups = list(
        await session.scalars(
            select(OperatorGroup)
            .where(OperatorGroup.workspace_id == workspace_id)
            .order_by(func.lower(OperatorGroup.name))
        )
    )
    views = {g.id: GroupView(g) for g in groups}
    if not views:
        return []
    for group_id, agent in await session.execute(
        select(OperatorGroupAgent.group_id, AiAgent)
        .join(AiAgent, AiAgent.id == OperatorGroupAgent.agent_id)
        .where(OperatorGroupAgent.workspace_id == workspace_id)
        .order_by(AiAgent.name)
    ):
        views[group_id].agents.append(agent)
    for group_id, member in await session.execute(
        select(OperatorGroupMember.group_id, Member)
        .join(Member, Member.id == OperatorGroupMember.member_id)
        .where(OperatorGroupMember.workspace_id == workspace_id, Member.status == "active")
        .order_by(Member.name)
    ):
        views[group_id].members.append(member)
    return list(views.values())


async def get_group(session: AsyncSession, workspace_id: str, group_id: str) -> GroupView:
    for view in await list_groups(session, workspace_id):
        if view.group.id == group_id:
            return view
    raise NotFound(f"operator group {group_id} not found")


def _name(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DirectoryError("a group needs a name")
    name = " ".join(value.split())
    if len(name) > NAME_MAX:
        raise DirectoryError(f"a group's name is at most {NAME_MAX} characters")
    return name


def _description(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DirectoryError("description must be text")
    if len(value) > DESCRIPTION_MAX:
        raise DirectoryError(f"a description is at most {DESCRIPTION_MAX} characters")
    return value.strip()


async def _agent_ids(session: AsyncSession, workspace_id: str, ids: Iterable[object]) -> list[str]:
    wanted = _ids(ids, "workflows")
    found = set(
        await session.scalars(
            select(AiAgent.id).where(AiAgent.workspace_id == workspace_id, AiAgent.id.in_(wanted))
        )
    )
    missing = [i for i in wanted if i not in found]
    if missing:
        raise NotFound(f"no AI agent {', '.join(missing)} in this workspace")
    return wanted


async def _member_ids(session: AsyncSession, workspace_id: str, ids: Iterable[object]) -> list[str]:
    wanted = _ids(ids, "members")
    found = set(
        await session.scalars(
            select(Member.id).where(
                Member.workspace_id == workspace_id,
                Member.id.in_(wanted),
                Member.status == "active",
            )
        )
    )
    missing = [i for i in wanted if i not in found]
    if missing:
        raise NotFound(f"no active member {', '.join(missing)} in this workspace")
    return wanted


def _ids(values: Iterable[object], what: str) -> list[str]:
    if isinstance(values, str | bytes) or not all(isinstance(v, str) for v in values):
        raise DirectoryError(f"{what} must be a list of ids")
    return list(dict.fromkeys(str(v) for v in values))


async def create_group(
    session: AsyncSession,
    workspace_id: str,
    *,
    name: object,
    description: object = None,
    workflows: Iterable[object] = (),
    members: Iterable[object] = (),
    actor: str,
    now: datetime,
) -> GroupView:
    group = OperatorGroup(
        workspace_id=workspace_id,
        name=_name(name),
        description=_description(description),
        created_at=now,
        updated_at=now,
    )
    agents = await _agent_ids(session, workspace_id, workflows)
    people = await _member_ids(session, workspace_id, members)
    await _unique(session, workspace_id, group.name, None)
    session.add(group)
    await session.flush()
    _link(session, group, agents, people)
    await audit(session, workspace_id, actor, "live.group.create", group.id, {"name": group.name})
    return await get_group(session, workspace_id, group.id)


async def _unique(
    session: AsyncSession, workspace_id: str, name: str, group_id: str | None
) -> None:
    clash = await session.scalar(
        select(OperatorGroup.id).where(
            OperatorGroup.workspace_id == workspace_id,
            func.lower(OperatorGroup.name) == name.lower(),
        )
    )
    if clash is not None and clash != group_id:
        raise Conflict(f"a group named {name!r} exists already")


def _link(
    session: AsyncSession, group: OperatorGroup, agents: list[str], people: list[str]
) -> None:
    for agent_id in agents:
        session.add(
            OperatorGroupAgent(
                group_id=group.id, agent_id=agent_id, workspace_id=group.workspace_id
            )
        )
    for member_id in people:
        session.add(
            OperatorGroupMember(
                group_id=group.id, member_id=member_id, workspace_id=group.workspace_id
            )
        )


async def update_group(
    session: AsyncSession,
    workspace_id: str,
    group_id: str,
    *,
    name: object = None,
    description: object = None,
    workflows: Iterable[object] | None = None,
    members: Iterable[object] | None = None,
    actor: str,
    now: datetime,
) -> GroupView:
    """Change what is given; WORKFLOWS and MEMBERS, when given, replace the lists."""
    group = await session.get(OperatorGroup, group_id)
    if group is None or group.workspace_id != workspace_id:
        raise NotFound(f"operator group {group_id} not found")
    if name is not None:
        group.name = _name(name)
        await _unique(session, workspace_id, group.name, group.id)
    if description is not None:
        group.description = _description(description)
    agents = await _agent_ids(session, workspace_id, workflows) if workflows is not None else None
    people = await _member_ids(session, workspace_id, members) if members is not None else None
    if agents is not None:
        await session.execute(
            delete(OperatorGroupAgent).where(OperatorGroupAgent.group_id == group.id)
        )
    if people is not None:
        await session.execute(
            delete(OperatorGroupMember).where(OperatorGroupMember.group_id == group.id)
        )
    _link(session, group, agents or [], people or [])
    group.updated_at = now
    try:
        await session.flush()
    except IntegrityError as exc:  # a rename racing another
        raise Conflict(f"a group named {group.name!r} exists already") from exc
    await audit(session, workspace_id, actor, "live.group.update", group.id, {"name": group.name})
    return await get_group(session, workspace_id, group.id)


async def delete_group(
    session: AsyncSession, workspace_id: str, group_id: str, *, actor: str
) -> None:
    group = await session.get(OperatorGroup, group_id)
    if group is None or group.workspace_id != workspace_id:
        raise NotFound(f"operator group {group_id} not found")
    await session.delete(group)
    await audit(session, workspace_id, actor, "live.group.delete", group_id, {"name": group.name})


async def workflows_of(session: AsyncSession, workspace_id: str, member_id: str) -> list[AiAgent]:
    """The AI agents MEMBER_ID's groups handle: the workflows they may go live on."""
    # The agents by id (a subquery, not DISTINCT over the agents' rows: PostgreSQL cannot
    # compare their JSON columns).
    handled = (
        select(OperatorGroupAgent.agent_id)
        .join(OperatorGroupMember, OperatorGroupMember.group_id == OperatorGroupAgent.group_id)
        .where(
            OperatorGroupMember.workspace_id == workspace_id,
            OperatorGroupMember.member_id == member_id,
        )
    )
    return list(
        await session.scalars(
            select(AiAgent)
            .where(AiAgent.workspace_id == workspace_id, AiAgent.id.in_(handled))
            .order_by(AiAgent.name)
        )
    )


async def members_for(session: AsyncSession, workspace_id: str, agent_id: str) -> set[str]:
    """The members of the groups that handle AGENT_ID."""
    return set(
        await session.scalars(
            select(OperatorGroupMember.member_id)
            .join(OperatorGroupAgent, OperatorGroupAgent.group_id == OperatorGroupMember.group_id)
            .where(
                OperatorGroupAgent.workspace_id == workspace_id,
                OperatorGroupAgent.agent_id == agent_id,
            )
        )
    )


async def group_members(session: AsyncSession, workspace_id: str, group_id: str) -> set[str]:
    group = await session.get(OperatorGroup, group_id)
    if group is None or group.workspace_id != workspace_id:
        raise NotFound(f"operator group {group_id} not found")
    return set(
        await session.scalars(
            select(OperatorGroupMember.member_id).where(OperatorGroupMember.group_id == group_id)
        )
    )
