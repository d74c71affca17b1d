"""SQLAlchemy models. Every row carries `workspace_id`; no query crosses workspaces."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storage.types import UTCDateTime, new_id, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


class Workspace(Base):
    __tablename__ = "workspaces"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    plan: Mapped[str] = mapped_column(String(20), default="pro")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # ISO 3166 alpha-2 ("GB"): phone numbers written the national way are read as its
    # numbers; None: every number needs its country code.
    country: Mapped[str | None] = mapped_column(String(2))
    # Addresses that receive new-assist notices, besides the members routing reaches.
    notification_addresses: Mapped[list[Any]] = mapped_column(default=list)
    # Enterprise: owners and admins set members' availability; members do not set their own.
    availability_managed: Mapped[bool] = mapped_column(default=False)
    # Feature flags by name (`operator`, `presence`): absent is off.
    features: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The scopes each role holds ({"support": ["operator:read"], ...}); None: the defaults.
    role_scopes: Mapped[dict[str, Any] | None] = mapped_column()
    # An unlinked Slack user whose verified email is one member's is linked to that member.
    slack_email_linking: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def workspace_id(self) -> str:
        return self.id


class WorkspaceAddress(Base):
    """An address a provider delivers to (Slack team, Twilio number, bot, inbox) → workspace."""

    __tablename__ = "workspace_addresses"
    __table_args__ = (UniqueConstraint("channel", "address", name="uq_workspace_addresses_route"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(320))
    members_only: Mapped[bool] = mapped_column(default=False)


class Member(Base):
    __tablename__ = "members"
    __table_args__ = (
        UniqueConstraint("workspace_id", "email", name="uq_members_workspace_email"),
        Index("ix_members_email", "email"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="active")
    default_channel: Mapped[str | None] = mapped_column(String(20))
    timezone: Mapped[str | None] = mapped_column(String(64))
    # argon2id; None until the member sets a password (sign-in links work without one).
    password_hash: Mapped[str | None] = mapped_column(String(200))
    last_sign_in_at: Mapped[datetime | None] = mapped_column()
    # Routing: available|offline; a manual change holds until the work schedule's next boundary.
    availability: Mapped[str] = mapped_column(String(20), default="available")
    availability_until: Mapped[datetime | None] = mapped_column()
    availability_changed_at: Mapped[datetime | None] = mapped_column()
    # Weekly hours in the member's time zone: {"mon": [["09:00", "17:00"]], ...}; None: none.
    work_schedule: Mapped[dict[str, Any] | None] = mapped_column()
    assist_cap: Mapped[int | None] = mapped_column(Integer)  # None: the workspace default
    # Scopes granted to this member beyond their role's (e.g. ["operator:write"]).
    scopes: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChannelIdentity(Base):
    """A member's address on one channel (Slack user id, E.164 number, email, Telegram id)."""

    __tablename__ = "channel_identities"
    __table_args__ = (
        UniqueConstraint(
            "workspace_id", "channel", "address", name="uq_channel_identities_address"
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    """Admin API keys; only a SHA-256 of the key is stored, the key is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200), default="")
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class TaskRow(Base):
    """The inbound journal: one row per accepted request, unique on the dedupe key."""

    __tablename__ = "tasks"
    __table_args__ = (
        UniqueConstraint("workspace_id", "channel", "external_id", name="uq_tasks_dedupe"),
        Index("ix_tasks_claim", "status", "received_at"),
        # A sender's latest message on a channel (WhatsApp's 24-hour window).
        Index("ix_tasks_sender", "channel", "sender_address", "received_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    sender_channel: Mapped[str] = mapped_column(String(20))
    sender_address: Mapped[str] = mapped_column(String(320))
    conversation: Mapped[str] = mapped_column(String(320))
    text: Mapped[str] = mapped_column(Text, default="")
    attachments: Mapped[list[Any]] = mapped_column(default=list)
    reply_route: Mapped[dict[str, Any]] = mapped_column()
    raw: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The typed intent a channel parsed (models.task.Task): SQL NULL when the task has none.
    approval: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    briefing: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    sender_name: Mapped[str | None] = mapped_column(Text)
    email_record: Mapped[str | None] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(20), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claim_token: Mapped[str | None] = mapped_column(String(32))
    lease_until: Mapped[datetime | None] = mapped_column()
    member_id: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None] = mapped_column()
    # Which classifier answered ("offline", "llm:<endpoint>") and what the model call cost.
    llm_backend: Mapped[str | None] = mapped_column(String(64))
    llm_prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    llm_completion_tokens: Mapped[int | None] = mapped_column(Integer)
    llm_cost_usd: Mapped[float | None] = mapped_column(Float)


class OutboxRow(Base):
    """A reply waiting for, or done with, delivery. Unique per (workspace, dedupe key)."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("workspace_id", "dedupe_key", name="uq_outbox_dedupe"),
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_task", "task_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    task_id: Mapped[str | None] = mapped_column(String(32))
    dedupe_key: Mapped[str] = mapped_column(String(200))
    seq: Mapped[int] = mapped_column(Integer, default=0)
    channel: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(320))
    thread: Mapped[str | None] = mapped_column(String(320))
    deliverable: Mapped[dict[str, Any]] = mapped_column()
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    provider_status: Mapped[str | None] = mapped_column(String(40))
    # How many of the reply's provider calls (message parts, uploads) went out: a retry after
    # a failure part-way resumes here instead of sending the first parts again.
    parts_sent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The part at `parts_sent` may have reached the provider unrecorded: the node sending it
    # died (its claim was taken over) or the call timed out. Before sending that part again
    # the outbox asks the provider whether it has it (see delivery.senders.Confirms).
    in_doubt: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()


class DeliveryReceipt(Base):
    """One provider message id of an outbox row (a split reply has several), for status
    callbacks (Twilio) and later edits (Slack ts, Telegram message id)."""

    __tablename__ = "delivery_receipts"
    __table_args__ = (
        # Provider ids are unique only per channel/chat (a Slack ts, a Telegram message id),
        # so they are indexed for lookups, not constrained.
        UniqueConstraint("outbox_id", "part", name="uq_delivery_receipts_part"),
        Index("ix_delivery_receipts_provider", "channel", "provider_message_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    outbox_id: Mapped[str] = mapped_column(String(32))
    part: Mapped[int] = mapped_column(Integer, default=0)
    channel: Mapped[str] = mapped_column(String(20))
    provider_message_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(40))
    error_code: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class MediaObject(Base):
    """Generated audio, reports and charts, served by signed expiring `/media/{token}` links
    and uploaded to providers that take files."""

    __tablename__ = "media"
    __table_args__ = (Index("ix_media_expires", "expires_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


class OptOut(Base):
    """A phone number that texted STOP: never messaged on that channel until it texts START."""

    __tablename__ = "opt_outs"
    __table_args__ = (
        UniqueConstraint("workspace_id", "channel", "address", name="uq_opt_outs_address"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_workspace_time", "workspace_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(100))
    target: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SessionMessage(Base):
    """One side of a member's recent exchange with the operator, kept 24 hours for the model."""

    __tablename__ = "session_messages"
    __table_args__ = (
        Index("ix_session_messages_recent", "workspace_id", "member_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(20))  # "user" or "assistant"
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConsoleSession(Base):
    """A member signed in to the console. Only a SHA-256 of the cookie's token is stored; the
    CSRF token is bound to the session."""

    __tablename__ = "console_sessions"
    __table_args__ = (Index("ix_console_sessions_member", "member_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class OneTimeToken(Base):
    """A single-use, expiring link: a sign-in link, an invitation's acceptance, a password
    reset. Only a SHA-256 of the token is stored."""

    __tablename__ = "one_time_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(20))  # signin|invitation|reset
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    member_id: Mapped[str | None] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), index=True
    )
    invitation_id: Mapped[str | None] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()


class SignInAttempt(Base):
    """Sign-in attempts by account and by address, for throttling across nodes."""

    __tablename__ = "sign_in_attempts"
    __table_args__ = (
        Index("ix_sign_in_attempts_email", "email", "created_at"),
        Index("ix_sign_in_attempts_address", "address", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(320))
    address: Mapped[str] = mapped_column(String(64))
    succeeded: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
