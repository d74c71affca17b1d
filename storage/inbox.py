"""The AI agent's side of customer conversations: where each customer's conversation stands
(chatting, giving a name or an email, confirming an escalation) per channel identity."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base
from storage.types import new_id, utcnow


class CustomerSession(Base):
    """One customer identity's conversation with the AI agent (an email address, a phone number
    on SMS or WhatsApp, a Telegram user): its stage, the details collected for an escalation,
    the recent turns, and the assist it opened.

    `stage` is `chat` (the agent answers), `ask_name`, `ask_email` or `confirm` (collecting and
    confirming the details of an escalation whose reason is `reason`). Rows are locked (SELECT
    ... FOR UPDATE on PostgreSQL) while a message is handled, so two messages of one customer
    are handled one after the other."""

    __tablename__ = "customer_sessions"
    __table_args__ = (
        UniqueConstraint("workspace_id", "channel", "address", name="uq_customer_sessions_address"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(320))
    stage: Mapped[str] = mapped_column(String(20), default="chat")
    reason: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    customer_id: Mapped[str | None] = mapped_column(String(32))
    conversation_id: Mapped[str | None] = mapped_column(String(32))
    assist_id: Mapped[str | None] = mapped_column(String(32))
    # [{"from": "customer"|"agent", "text": ..., "at": iso, "step"?: "details"}], newest last
    transcript: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
