"""The workspace domain: AI agents, customers, conversations, assists, training, schedules,
proposals and snapshots. Every row carries `workspace_id`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base
from storage.types import new_id, utcnow


class AiAgent(Base):
    """The customer-facing AI agent: personality, rules, welcome message, connected channels."""

    __tablename__ = "ai_agents"
    __table_args__ = (Index("ix_ai_agents_workspace", "workspace_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)  # field -> value (see args)
    channels: Mapped[list[Any]] = mapped_column(default=list)
    # New conversations are offered to the live operators of the groups handling this agent.
    live_routing: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Invitation(Base):
    __tablename__ = "invitations"
    __table_args__ = (UniqueConstraint("workspace_id", "email", name="uq_invitations_email"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default="support")
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending|cancelled|accepted
    invited_by: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()  # the latest acceptance link emailed
    accepted_at: Mapped[datetime | None] = mapped_column()


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (Index("ix_customers_email", "workspace_id", "email"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Conversation(Base):
    """A conversation of the AI agent with a customer; the metrics are computed from these."""

    __tablename__ = "conversations"
    __table_args__ = (
        # With the columns the metrics count (migration 0020): their statement reads the
        # index alone, not each conversation's row.
        Index(
            "ix_conversations_started",
            "workspace_id",
            "started_at",
            "channel",
            "topic",
            "resolved_by_ai",
            "escalated",
            "csat",
        ),
        Index("ix_conversations_updated", "workspace_id", "updated_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    agent_id: Mapped[str | None] = mapped_column(String(32))
    customer_id: Mapped[str | None] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(20), default="web")
    topic: Mapped[str | None] = mapped_column(String(120))
    resolved_by_ai: Mapped[bool] = mapped_column(Boolean, default=False)
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    csat: Mapped[int | None] = mapped_column(Integer)  # 1..5
    first_response_seconds: Mapped[float | None] = mapped_column(Float)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column()
    # open | snoozed (its assist is snoozed) | closed (its assist closed, or a new
    # conversation of the customer's started after it idled)
    status: Mapped[str] = mapped_column(String(20), default="open")
    address: Mapped[str | None] = mapped_column(String(320))  # the customer's, on CHANNEL
    # Where messages to the customer go ({"channel", "address", "thread"}), as they came.
    reply_route: Mapped[dict[str, Any] | None] = mapped_column()
    assist_id: Mapped[str | None] = mapped_column(String(32))
    # The live session offering or holding it now (the AI stays silent while one does).
    live_session_id: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime | None] = mapped_column()


class Assist(Base):
    """An escalated conversation in the AI Inbox, referenced as A-<number>."""

    __tablename__ = "assists"
    __table_args__ = (
        UniqueConstraint("workspace_id", "number", name="uq_assists_number"),
        Index("ix_assists_status", "workspace_id", "status", "priority"),
        # The consoles' change feed reads what changed lately, per workspace.
        Index("ix_assists_updated", "workspace_id", "updated_at"),
        Index("ix_assists_assignee", "workspace_id", "assignee_id", "status"),
        Index("ix_assists_snoozed", "status", "snoozed_until"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="open")
    priority: Mapped[str] = mapped_column(String(20), default="normal")
    category: Mapped[str | None] = mapped_column(String(60))
    subject: Mapped[str | None] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text, default="")
    customer_id: Mapped[str | None] = mapped_column(String(32))
    conversation_id: Mapped[str | None] = mapped_column(String(32))
    customer_details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    suggested_reply: Mapped[str | None] = mapped_column(Text)
    escalation_reason: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    labels: Mapped[list[Any]] = mapped_column(default=list)
    assignee_id: Mapped[str | None] = mapped_column(String(32))
    transcript: Mapped[list[Any]] = mapped_column(default=list)
    unread: Mapped[bool] = mapped_column(Boolean, default=True)
    resolution: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    first_response_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    assigned_at: Mapped[datetime | None] = mapped_column()
    snoozed_until: Mapped[datetime | None] = mapped_column()  # status "snoozed" until then

    @property
    def ref(self) -> str:
        return f"A-{self.number}"


class AssistEvent(Base):
    """Notes, replies to the customer and customer replies, in order."""

    __tablename__ = "assist_events"
    __table_args__ = (Index("ix_assist_events_assist", "assist_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    assist_id: Mapped[str] = mapped_column(ForeignKey("assists.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))  # note|reply|customer_reply
    author: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class QaPair(Base):
    __tablename__ = "qa_pairs"
    __table_args__ = (Index("ix_qa_pairs_workspace", "workspace_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(60))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TrainingSource(Base):
    __tablename__ = "training_sources"
    __table_args__ = (
        Index("ix_training_sources_fetch", "fetch_status"),
        Index("ix_training_sources_workspace", "workspace_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))  # text|url
    title: Mapped[str | None] = mapped_column(String(300))
    url: Mapped[str | None] = mapped_column(String(2048))
    content: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # URL sources only: None (never asked), pending, fetching (claimed), fetched or failed.
    fetch_status: Mapped[str | None] = mapped_column(String(20))
    fetch_error: Mapped[str | None] = mapped_column(String(500))
    fetched_at: Mapped[datetime | None] = mapped_column()  # the last attempt, either outcome
    fetch_token: Mapped[str | None] = mapped_column(String(32))  # the claim, fences its result
    fetch_lease_until: Mapped[datetime | None] = mapped_column()


class TrainingSuggestion(Base):
    __tablename__ = "training_suggestions"
    __table_args__ = (Index("ix_training_suggestions_workspace", "workspace_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    quality: Mapped[float] = mapped_column(Float, default=0.0)  # 0..1
    conflicts_with: Mapped[int | None] = mapped_column(Integer)  # a QaPair id
    status: Mapped[str] = mapped_column(String(20), default="pending")
    origin: Mapped[str | None] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class KnowledgeGap(Base):
    __tablename__ = "knowledge_gaps"
    __table_args__ = (
        Index("ix_knowledge_gaps_workspace", "workspace_id", "resolved", "occurrences"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    question: Mapped[str] = mapped_column(Text)
    topic: Mapped[str | None] = mapped_column(String(120))
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)


class Integration(Base):
    __tablename__ = "integrations"
    __table_args__ = (UniqueConstraint("workspace_id", "name", name="uq_integrations_name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(60))
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Schedule(Base):
    """A briefing sent on a timetable (or once, at `one_off_at`) to one member's channel.

    `briefing_type` is one of the four briefings, `report` or `bulk_action` (a tool call made
    recurring in learning mode, in `params`), or `training_follow_up` (one-off, with the
    resolution rate at approval in `params`). `updated_at` moves on every change but the
    scheduler's own bookkeeping, so the scheduler polls for changes cheaply."""

    __tablename__ = "schedules"
    __table_args__ = (
        Index("ix_schedules_member", "workspace_id", "member_id"),
        Index("ix_schedules_updated", "updated_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    member_id: Mapped[str] = mapped_column(String(32))
    agent_id: Mapped[str | None] = mapped_column(String(32))
    briefing_type: Mapped[str] = mapped_column(String(40))
    frequency: Mapped[str] = mapped_column(String(20), default="daily")
    days: Mapped[list[Any]] = mapped_column(default=list)
    time: Mapped[str] = mapped_column(String(5), default="08:00")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    channel: Mapped[str | None] = mapped_column(String(20))
    address: Mapped[str | None] = mapped_column(String(320))
    # Monthly briefings: the day they go out (a month without that day: its last day).
    day_of_month: Mapped[int | None] = mapped_column(Integer)
    one_off_at: Mapped[datetime | None] = mapped_column()
    params: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_run_at: Mapped[datetime | None] = mapped_column()  # the fire time last sent
    next_run_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(default=utcnow, onupdate=utcnow)


class ScheduleOffer(Base):
    """Learning mode: an offer to make an action recurring, one per member and action.

    `status` is offered, accepted or declined; a declined action is never offered again."""

    __tablename__ = "schedule_offers"
    __table_args__ = (
        UniqueConstraint("workspace_id", "member_id", "action", name="uq_schedule_offers_action"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(80))  # "run_report:performance", ...
    call: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"tool", "args"} to repeat
    status: Mapped[str] = mapped_column(String(20), default="offered")
    task_id: Mapped[str | None] = mapped_column(String(32))  # the reply that made the offer
    offered_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column()


class Proposal(Base):
    """A write waiting for approval: its changes with before/after values, a short code."""

    __tablename__ = "proposals"
    __table_args__ = (
        Index("ix_proposals_code", "workspace_id", "code", "status"),
        Index("ix_proposals_requester", "workspace_id", "requester_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(8))
    requester_id: Mapped[str] = mapped_column(String(32))
    task_id: Mapped[str | None] = mapped_column(String(32))
    summary: Mapped[str] = mapped_column(Text)
    changes: Mapped[list[Any]] = mapped_column(default=list)
    estimated_count: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    decided_by: Mapped[str | None] = mapped_column(String(32))
    decided_at: Mapped[datetime | None] = mapped_column()
    outcome: Mapped[str | None] = mapped_column(Text)


class Snapshot(Base):
    """The before-state of an executed write, for undo, history and restore."""

    __tablename__ = "snapshots"
    __table_args__ = (Index("ix_snapshots_member", "workspace_id", "member_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    proposal_id: Mapped[str | None] = mapped_column(String(32))
    member_id: Mapped[str | None] = mapped_column(String(32))
    summary: Mapped[str] = mapped_column(Text)
    before: Mapped[list[Any]] = mapped_column(default=list)  # entity states to put back
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    undone_at: Mapped[datetime | None] = mapped_column()
    restored_at: Mapped[datetime | None] = mapped_column()
