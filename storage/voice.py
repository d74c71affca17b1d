"""The voice channel's record of each call: who called, which turn awaits its answer, which
turns' answers go out by text instead, and the proposal waiting for a spoken yes or no."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base
from storage.types import utcnow


class VoiceCall(Base):
    """One phone call, keyed by Twilio's CallSid.

    A turn is one spoken request (`Gather` number N; its task's external id is
    `<CallSid>:<N>`). `waiting_turn` is the turn whose answer has not been spoken yet;
    `pushed_turns` are turns whose answers go to the caller's text channel instead (the
    answer took too long, or the call ended first). Rows are locked (UPDATE first) by every
    change, so the webhook and the voice sender agree on where each answer goes."""

    __tablename__ = "voice_calls"
    __table_args__ = (Index("ix_voice_calls_workspace", "workspace_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # CallSid
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    caller: Mapped[str] = mapped_column(String(64))  # E.164, or what Twilio gave (anonymous)
    called: Mapped[str] = mapped_column(String(64))  # our number
    member_id: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(20), default="active")  # active|ended
    waiting_turn: Mapped[int | None] = mapped_column(Integer)
    pushed_turns: Mapped[list[Any]] = mapped_column(default=list)
    pending_proposal_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column()
