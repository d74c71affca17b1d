"""Data builders for tests: workspaces, members with identities, API keys, tasks, outbox rows."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from core.live import access, conversations, groups
from core.team import directory
from models.task import Route, Sender, Task
from storage.db import Database
from storage.domain import Conversation
from storage.live import LiveSession
from storage.models import Member, OutboxRow, TaskRow, Workspace
from storage.types import new_id, utcnow

_numbers = itertools.count(1)


def unique(prefix: str) -> str:
    """A name no other builder call in this process has returned."""
    return f"{prefix}-{next(_numbers)}"


def make_task(workspace_id: str, channel: str, address: str, text: str = "hi") -> Task:
    """A task from ADDRESS on CHANNEL, answered there (not journaled)."""
    return Task(
        id=new_id(),
        workspace_id=workspace_id,
        channel=channel,
        external_id=new_id(),
        sender=Sender(channel=channel, address=address),
        conversation="c",
        text=text,
        received_at=utcnow(),
        reply_route=Route(channel=channel, address=address),
    )


async def make_workspace(
    session: AsyncSession, *, name: str | None = None, plan: str = "pro", timezone: str = "UTC"
) -> Workspace:
    return await directory.create_workspace(
        session, name or unique("workspace"), plan=plan, timezone=timezone
    )


async def make_member(
    session: AsyncSession,
    workspace_id: str,
    *,
    name: str | None = None,
    role: str = "owner",
    email: str | None = None,
    identities: dict[str, str] | None = None,
) -> Member:
    """A member; EMAIL (default: a unique one) is also linked as their email identity."""
    name = name or unique("Member")
    return await directory.add_member(
        session,
        workspace_id,
        name=name,
        role=role,
        email=email if email is not None else f"{unique('member')}@example.com",
        identities=identities,
    )


async def make_api_key(
    session: AsyncSession, workspace_id: str, *, name: str = "test"
) -> directory.NewApiKey:
    return await directory.create_api_key(session, workspace_id, name=name)


async def bearer_for(db: Database, member: str) -> dict[str, str]:
    """An `Authorization` header with a new API key of MEMBER's (id or email) workspace: what
    the web channel asks for by default."""
    async with db.session() as session:
        found = await directory.find_member(session, member)
        key = await make_api_key(session, found.workspace_id)
    return {"Authorization": f"Bearer {key.secret}"}


async def make_task_row(
    session: AsyncSession,
    workspace_id: str,
    member_id: str,
    *,
    status: str = "done",
    text: str = "how are we doing?",
    received_at: datetime | None = None,
) -> TaskRow:
    """A web task as the journal stores it, in any status (workers must be off to keep it)."""
    task_id = new_id()
    row = TaskRow(
        id=task_id,
        workspace_id=workspace_id,
        channel="web",
        external_id=f"{member_id}:{task_id}",
        kind="message",
        sender_channel="web",
        sender_address=member_id,
        conversation=f"web:{member_id}",
        text=text,
        attachments=[],
        reply_route={"channel": "web", "address": member_id, "thread": None},
        raw={},
        received_at=received_at or utcnow(),
        status=status,
        attempts=0 if status == "queued" else 1,
        member_id=member_id,
        finished_at=utcnow() if status in ("done", "failed") else None,
    )
    session.add(row)
    await session.flush()
    return row


async def make_outbox_row(
    session: AsyncSession,
    workspace_id: str,
    address: str,
    *,
    status: str = "dead",
    channel: str = "web",
    text: str = "your weekly summary",
    task_id: str | None = None,
) -> OutboxRow:
    """A reply in the outbox; by default a dead letter, as a permanent provider error leaves it."""
    row = OutboxRow(
        workspace_id=workspace_id,
        task_id=task_id,
        dedupe_key=unique("test-reply"),
        seq=0,
        channel=channel,
        address=address,
        deliverable={"kind": "text", "text": text},
        status=status,
        attempts=1 if status in ("dead", "sent") else 0,
        last_error="Forbidden: the bot was removed" if status == "dead" else None,
        sent_at=utcnow() if status == "sent" else None,
    )
    session.add(row)
    await session.flush()
    return row


@dataclass(frozen=True)
class Tenant:
    """A committed workspace with one member (email linked) and a live API key."""

    workspace_id: str
    workspace_name: str
    member_id: str
    member_name: str
    member_email: str
    key_id: str
    key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    @property
    def actor(self) -> str:
        """How the audit log names this tenant's API key."""
        return f"apikey:{self.key_id}"


async def make_tenant(
    db: Database, *, plan: str = "pro", role: str = "owner", name: str | None = None
) -> Tenant:
    async with db.session() as session:
        workspace = await make_workspace(session, plan=plan)
        member = await make_member(session, workspace.id, role=role, name=name)
        key = await make_api_key(session, workspace.id)
        assert member.email is not None
        return Tenant(
            workspace_id=workspace.id,
            workspace_name=workspace.name,
            member_id=member.id,
            member_name=member.name,
            member_email=member.email,
            key_id=key.id,
            key=key.secret,
        )


@dataclass(frozen=True)
class LiveWorld:
    group_id: str
    conversation_id: str
    session_id: str


async def make_live_world(
    session: AsyncSession,
    workspace_id: str,
    member_id: str,
    agent_id: str,
    *,
    features: bool = True,
) -> LiveWorld:
    """Live operators seeded in WORKSPACE_ID: the `operator` and `presence` flags on (unless
    FEATURES is false), a group of MEMBER_ID handling AGENT_ID, an SMS conversation of two
    messages and an active live session on it held by MEMBER_ID."""
    now = utcnow()
    workspace = await session.get(Workspace, workspace_id)
    assert workspace is not None
    if features:
        await access.set_features(session, workspace, operator=True, presence=True, actor="test")
    group = await groups.create_group(
        session,
        workspace_id,
        name=unique("Billing"),
        workflows=[agent_id],
        members=[member_id],
        actor="test",
        now=now,
    )
    conversation = Conversation(
        workspace_id=workspace_id,
        agent_id=agent_id,
        channel="sms",
        address="+15550109999",
        reply_route={"channel": "sms", "address": "+15550109999"},
        started_at=now,
        updated_at=now,
    )
    session.add(conversation)
    await session.flush()
    conversations.add(session, conversation, author="customer", text="Hi", key=unique("k"), at=now)
    live = LiveSession(
        workspace_id=workspace_id,
        conversation_id=conversation.id,
        agent_id=agent_id,
        status="active",
        operator_id=member_id,
        accepted_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(live)
    await session.flush()
    conversation.live_session_id = live.id
    conversations.add(
        session,
        conversation,
        author="member",
        text="Hello, Pat here.",
        key=unique("k"),
        at=now,
        member_id=member_id,
        live_session_id=live.id,
    )
    await session.flush()
    return LiveWorld(group.group.id, conversation.id, live.id)
