"""Live operators: each customer conversation's messages in order, operator groups and the
workflows (AI agents) they handle, who is live now, and the live sessions in which a team
member talks to a customer in real time. Every row carries `workspace_id`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base
from storage.types import new_id, utcnow


class ConversationMessage(Base):
    """One message of a conversation: the customer's, the AI agent's, a team member's, or the
    gateway's own notice (`system`). `key` makes each message recorded once however often the
    step that records it runs (a task retried, a fallback replayed); messages read in the
    order of `seq`, which increases per conversation."""

    __tablename__ = "conversation_messages"
    __table_args__ = (
        UniqueConstraint("workspace_id", "key", name="uq_conversation_messages_key"),
        Index("ix_conversation_messages_order", "conversation_id", "seq"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(200))
    author: Mapped[str] = mapped_column(String(20))  # customer | agent | member | system
    member_id: Mapped[str | None] = mapped_column(String(32))
    live_session_id: Mapped[str | None] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)


class OperatorGroup(Base):
    """A team of live operators: the workflows (AI agents) whose conversations it takes."""

    __tablename__ = "operator_groups"
    __table_args__ = (UniqueConstraint("workspace_id", "name", name="uq_operator_groups_name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class OperatorGroupAgent(Base):
    __tablename__ = "operator_group_agents"

    group_id: Mapped[str] = mapped_column(
        ForeignKey("operator_groups.id", ondelete="CASCADE"), primary_key=True
    )
    agent_id: Mapped[str] = mapped_column(
        ForeignKey("ai_agents.id", ondelete="CASCADE"), primary_key=True
    )
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))


class OperatorGroupMember(Base):
    __tablename__ = "operator_group_members"

    group_id: Mapped[str] = mapped_column(
        ForeignKey("operator_groups.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[str] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))


class OperatorPresence(Base):
    """A member who is live, on the workflows (agent ids) they chose. `via` is `console` (held
    by a WebSocket's heartbeats: live while `seen_at` is recent) or `chat` (went live by
    message; live until `until`). The row is deleted when they go offline."""

    __tablename__ = "operator_presence"
    __table_args__ = (Index("ix_operator_presence_seen", "workspace_id", "seen_at"),)

    member_id: Mapped[str] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    workflows: Mapped[list[Any]] = mapped_column(default=list)
    via: Mapped[str] = mapped_column(String(20), default="console")
    # The channel route a chat-live member takes offers on ({"channel", "address"}).
    route: Mapped[dict[str, Any] | None] = mapped_column()
    connection: Mapped[str | None] = mapped_column(String(64))  # the socket holding it
    node: Mapped[str | None] = mapped_column(String(200))
    since: Mapped[datetime] = mapped_column(default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    until: Mapped[datetime | None] = mapped_column()


class LiveSession(Base):
    """A conversation routed to the live operators: `offered` (to `offered_to` until
    `offer_expires_at`), `active` (held by `operator_id`; the AI is silent), then `completed`
    (the operator handed it back) or `ai` (no one took it: the AI answered). `held` lists the
    customer's messages (task ids) that arrived while it was offered and nobody answered yet;
    `tried` the members it was offered to. `slack` is where a Slack-held session's thread is."""

    __tablename__ = "live_sessions"
    __table_args__ = (
        Index("ix_live_sessions_status", "workspace_id", "status"),
        Index("ix_live_sessions_offers", "status", "offer_expires_at"),
        Index("ix_live_sessions_conversation", "conversation_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    agent_id: Mapped[str | None] = mapped_column(String(32))
    group_id: Mapped[str | None] = mapped_column(String(32))  # a transfer to a group
    status: Mapped[str] = mapped_column(String(20), default="offered")
    operator_id: Mapped[str | None] = mapped_column(String(32))
    offered_to: Mapped[str | None] = mapped_column(String(32))
    offer_expires_at: Mapped[datetime | None] = mapped_column()
    tried: Mapped[list[Any]] = mapped_column(default=list)
    held: Mapped[list[Any]] = mapped_column(default=list)
    slack: Mapped[dict[str, Any] | None] = mapped_column()
    transferred_by: Mapped[str | None] = mapped_column(String(32))
    outcome: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    accepted_at: Mapped[datetime | None] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
