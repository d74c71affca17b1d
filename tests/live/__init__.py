"""Live operators: the admin API's routes and the chat tools, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from core.live import presence
from core.team import agents, directory
from storage.db import Database
from storage.live import (
    LiveSession,
    OperatorGroup,
    OperatorGroupAgent,
    OperatorGroupMember,
    OperatorPresence,
)
from storage.models import AuditEntry, Member, Workspace
from storage.types import utcnow
from tests.factories import LiveWorld, make_live_world, make_member


async def answer(response: Any, status: int) -> Any:
    text = await response.text()
    assert response.status == status, text
    return json.loads(text) if text else None


@dataclass(frozen=True)
class World:
    workspace_id: str
    agent_id: str
    pat_id: str  # a support member, in the seeded group, holding the seeded session
    auth: dict[str, str]
    live: LiveWorld


async def world(db: Database, name: str = "Acme", *, features: bool = True) -> World:
    """A workspace as `main.py workspace create` makes it, with an API key, and its live
    operators seeded (tests.factories.make_live_world)."""
    async with db.session() as session:
        made = await agents.create_workspace_with_agent(session, name)
        key = await directory.create_api_key(session, made.workspace.id, name="test")
        pat = await make_member(session, made.workspace.id, name="Pat", role="support")
        live = await make_live_world(
            session, made.workspace.id, pat.id, made.agent.id, features=features
        )
    return World(
        made.workspace.id,
        made.agent.id,
        pat.id,
        {"Authorization": f"Bearer {key.secret}"},
        live,
    )


async def go_live_by_chat(db: Database, workspace_id: str, member_id: str) -> None:
    async with db.session() as session:
        workspace = await session.get(Workspace, workspace_id)
        member = await session.get(Member, member_id)
        assert workspace is not None and member is not None
        await presence.go_live(
            session,
            workspace,
            member,
            workflows=None,
            via="chat",
            now=utcnow(),
            route={"channel": "telegram", "address": "7001"},
        )


async def live_rows(db: Database, workspace_id: str) -> dict[str, Any]:
    """Everything of WORKSPACE_ID's live operators a request could change, to compare."""
    async with db.session() as session:
        workspace = await session.get(Workspace, workspace_id, populate_existing=True)
        assert workspace is not None

        async def rows(*columns: Any, where: Any) -> list[tuple[Any, ...]]:
            found = await session.execute(select(*columns).where(where).order_by(*columns))
            return [tuple(r) for r in found.all()]

        return {
            "features": workspace.features,
            "role_scopes": workspace.role_scopes,
            "groups": await rows(
                OperatorGroup.id,
                OperatorGroup.name,
                OperatorGroup.description,
                where=OperatorGroup.workspace_id == workspace_id,
            ),
            "group_agents": await rows(
                OperatorGroupAgent.group_id,
                OperatorGroupAgent.agent_id,
                where=OperatorGroupAgent.workspace_id == workspace_id,
            ),
            "group_members": await rows(
                OperatorGroupMember.group_id,
                OperatorGroupMember.member_id,
                where=OperatorGroupMember.workspace_id == workspace_id,
            ),
            "presence": await rows(
                OperatorPresence.member_id,
                OperatorPresence.via,
                where=OperatorPresence.workspace_id == workspace_id,
            ),
            "sessions": await rows(
                LiveSession.id,
                LiveSession.status,
                where=LiveSession.workspace_id == workspace_id,
            ),
            "member_scopes": [
                (m.id, m.scopes)
                for m in await session.scalars(
                    select(Member).where(Member.workspace_id == workspace_id).order_by(Member.id)
                )
            ],
            "audit": await rows(AuditEntry.id, where=AuditEntry.workspace_id == workspace_id),
        }
