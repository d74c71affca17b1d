"""Linking chat identities without typing ids: short-lived link codes a member is shown, and
the attempts to redeem them (counted here, so every node throttles the same guesses)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base
from storage.types import new_id, utcnow


class LinkCode(Base):
    """A 6-digit code that links the chat identity which sends "link <code>" to its member.
    Only a keyed hash of the code (with its workspace) is stored; single use and expiry are
    enforced by one conditional UPDATE."""

    __tablename__ = "link_codes"
    __table_args__ = (
        UniqueConstraint("workspace_id", "code_hash", name="uq_link_codes_code"),
        Index("ix_link_codes_member_id", "member_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(100))  # "member:<id>" (console) or "cli"
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()
    used_channel: Mapped[str | None] = mapped_column(String(20))


class LinkAttempt(Base):
    """One "link <code>" that did not link, by sender, for throttling guesses."""

    __tablename__ = "link_attempts"
    __table_args__ = (
        Index("ix_link_attempts_sender", "workspace_id", "channel", "address", "created_at"),
        Index("ix_link_attempts_workspace", "workspace_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
