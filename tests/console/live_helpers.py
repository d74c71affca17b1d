"""Live-operator test builders: flags on, a group on the workspace's AI agent, a member live,
and a customer's conversation offered to them (through core.live, as the AI desk does)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from core.live import access, conversations, groups, presence, sessions
from core.team.agents import create_default_agent
from storage.db import Database
from storage.domain import AiAgent, Conversation
from storage.live import LiveSession, OperatorPresence
from storage.models import Member, Workspace
from storage.types import new_id, utcnow


@dataclass(frozen=True)
class LiveTeam:
    workspace_id: str
    agent_id: str
    group_id: str


async def live_team(
    db: Database, workspace_id: str, members: list[str], *, presence_on: bool = True
) -> LiveTeam:
    """Turn Live Operator Mode (and presence) on; one group on the default agent with MEMBERS."""
    async with db.session() as session:
        workspace = await session.get(Workspace, workspace_id)
        assert workspace is not None
        await access.set_features(
            session, workspace, operator=True, presence=presence_on, actor="test"
        )
        agent = await session.scalar(select(AiAgent).where(AiAgent.workspace_id == workspace_id))
        if agent is None:
            agent = await create_default_agent(session, workspace)
        agent.live_routing = True
        group = await groups.create_group(
            session,
            workspace_id,
            name="Billing desk",
            workflows=[agent.id],
            members=members,
            actor="test",
            now=utcnow(),
        )
        return LiveTeam(workspace_id, agent.id, group.group.id)


async def go_live(db: Database, workspace_id: str, member_id: str) -> None:
    async with db.session() as session:
        workspace = await session.get(Workspace, workspace_id)
        member = await session.get(Member, member_id)
        assert workspace is not None and member is not None
        await presence.go_live(
            session, workspace, member, workflows=None, via="console", now=utcnow()
        )


async def is_live(db: Database, member_id: str) -> bool:
    async with db.session() as session:
        return await session.get(OperatorPresence, member_id) is not None


async def offer(db: Database, team: LiveTeam, text: str, *, address: str = "+15550001111") -> str:
    """A customer's new SMS conversation saying TEXT, offered to a live operator: its session."""
    now = utcnow()
    async with db.session() as session:
        agent = await session.get(AiAgent, team.agent_id)
        assert agent is not None
        conversation = Conversation(
            id=new_id(),
            workspace_id=team.workspace_id,
            agent_id=agent.id,
            channel="sms",
            address=address,
            reply_route={"channel": "sms", "address": address},
            status="open",
            started_at=now,
            updated_at=now,
        )
        session.add(conversation)
        await session.flush()
        task_id = new_id()
        conversations.add(
            session, conversation, author="customer", text=text, key=f"task:{task_id}:1", at=now
        )
        taken = await sessions.customer_message(
            session,
            conversation=conversation,
            agent=agent,
            task_id=task_id,
            text=text,
            new_interaction=True,
            now=now,
            policy=sessions.LivePolicy(),
        )
        assert taken, "nobody live was offered the conversation"
        assert conversation.live_session_id is not None
        return conversation.live_session_id


async def session_status(db: Database, session_id: str) -> LiveSession:
    async with db.session() as session:
        live = await session.get(LiveSession, session_id)
        assert live is not None
        session.expunge(live)
        return live
