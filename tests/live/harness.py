"""Live operators under test: a seeded workspace with Live Operator Mode on, Ava (the demo
agent, serving SMS) set for live routing, one group handling her, and members going live."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from cli.seed import Seeded, seed_workspace
from core.live import groups, presence, sessions
from storage.db import Database
from storage.domain import AiAgent, Conversation
from storage.live import ConversationMessage, LiveSession
from storage.models import Member, Workspace
from storage.types import new_id, utcnow
from tests.helpers import wait_until

MARIA = "maria@demo.example"
SAM = "sam@demo.example"
TOM = "tom@demo.example"
CUSTOMER = "+15557770042"
OTHER_CUSTOMER = "+15557770043"
# Offers lapse after a second. A console is taken off after 30 s without a heartbeat, so an
# operator who went live stays live through a slow moment of the test machine (with 2 s, a
# stall between going live and the message's offer took her off first, and nobody was offered
# anything); the test of the silent console sets the least, 2 s, itself.
FAST = {"SWITCHBOARD_LIVE_OFFER_SECONDS": 1, "SWITCHBOARD_LIVE_PRESENCE_TIMEOUT": 30}


@dataclass(frozen=True)
class Live:
    seeded: Seeded
    group_id: str

    @property
    def workspace_id(self) -> str:
        return self.seeded.workspace_id

    def member(self, email: str) -> str:
        return self.seeded.member_ids[email]


async def set_up(
    db: Database,
    *,
    members: tuple[str, ...] = (MARIA, SAM),
    features: dict[str, bool] | None = None,
    routing: bool = True,
) -> Live:
    async with db.session() as session:
        seeded = await seed_workspace(session, now=utcnow() - timedelta(days=1), conversations=0)
        workspace = await session.get(Workspace, seeded.workspace_id)
        assert workspace is not None
        workspace.features = features if features is not None else {"operator": True}
        agent = await session.get(AiAgent, seeded.agent_id)
        assert agent is not None
        agent.live_routing = routing
        group = await groups.create_group(
            session,
            seeded.workspace_id,
            name="Front line",
            workflows=[seeded.agent_id],
            members=[seeded.member_ids[m] for m in members],
            actor="test",
            now=utcnow(),
        )
    return Live(seeded, group.group.id)


async def go_live(db: Database, live: Live, email: str, *, connection: str | None = None) -> None:
    async with db.session() as session:
        workspace = await session.get(Workspace, live.workspace_id)
        member = await session.get(Member, live.member(email))
        assert workspace is not None and member is not None
        await presence.go_live(
            session,
            workspace,
            member,
            workflows=None,
            via="console",
            now=utcnow(),
            connection=connection or new_id(),
        )


async def beat(db: Database, live: Live, email: str) -> None:
    async with db.session() as session:
        await presence.heartbeat(session, live.member(email), new_id(), now=utcnow(), node=None)


async def live_sessions(db: Database, live: Live) -> list[LiveSession]:
    async with db.session() as session:
        return list(
            await session.scalars(
                select(LiveSession)
                .where(LiveSession.workspace_id == live.workspace_id)
                .order_by(LiveSession.created_at)
            )
        )


async def offered(db: Database, live: Live, email: str) -> LiveSession:
    async def found() -> LiveSession | None:
        for one in await live_sessions(db, live):
            if one.status == "offered" and one.offered_to == live.member(email):
                return one
        return None

    return await wait_until(found, timeout=10, message=f"an offer to {email}")


async def act(db: Database, live: Live, email: str, what: str, *args: Any, **kwargs: Any) -> Any:
    """Run sessions.WHAT(session, workspace, member, *ARGS, now=..., **KWARGS) and commit."""
    async with db.session() as session:
        workspace = await session.get(Workspace, live.workspace_id)
        member = await session.get(Member, live.member(email))
        assert workspace is not None and member is not None
        return await getattr(sessions, what)(
            session, workspace, member, *args, now=utcnow(), **kwargs
        )


async def messages_of(db: Database, live: Live, address: str) -> list[tuple[str, str]]:
    """(author, text) of the customer's conversations' messages, in order."""
    async with db.session() as session:
        ids = list(
            await session.scalars(
                select(Conversation.id)
                .where(
                    Conversation.workspace_id == live.workspace_id,
                    Conversation.address == address,
                )
                .order_by(Conversation.started_at)
            )
        )
        rows = await session.scalars(
            select(ConversationMessage)
            .where(ConversationMessage.conversation_id.in_(ids))
            .order_by(ConversationMessage.seq)
        )
        return [(m.author, m.text) for m in rows]
