"""Email threading: every email in or out that belongs to a thread we may need to find again."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base
from storage.types import new_id, utcnow


class EmailRecord(Base):
    """One email: inbound as received (text, HTML, authentication results, attachments as media
    ids), outbound as sent about an assist (its Message-ID, thread headers and the hash of the
    `reply+TOKEN` address that routes the customer's answer back to the assist).

    Inbound replies find their assist by `reply_token_hash`, then by `message_id` (their
    In-Reply-To / References name an email of the thread)."""

    __tablename__ = "email_records"
    __table_args__ = (
        UniqueConstraint(
            "workspace_id", "direction", "message_id", name="uq_email_records_message"
        ),
        Index("ix_email_records_message_id", "message_id"),
        Index("ix_email_records_assist", "assist_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(3))  # in|out
    message_id: Mapped[str] = mapped_column(String(500))  # with its angle brackets
    assist_id: Mapped[str | None] = mapped_column(ForeignKey("assists.id", ondelete="SET NULL"))
    task_id: Mapped[str | None] = mapped_column(String(32))
    in_reply_to: Mapped[str | None] = mapped_column(String(500))
    # Message-IDs of the thread, oldest first ("references" is an SQL keyword).
    references: Mapped[list[Any]] = mapped_column("reference_ids", default=list)
    subject: Mapped[str] = mapped_column(Text, default="")
    from_address: Mapped[str] = mapped_column(String(320))
    to_addresses: Mapped[list[Any]] = mapped_column(default=list)
    # Outbound only: SHA-256 of the token in its reply+TOKEN@ Reply-To address.
    reply_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    text: Mapped[str] = mapped_column(Text, default="")
    html: Mapped[str] = mapped_column(Text, default="")
    spf: Mapped[str | None] = mapped_column(String(20))
    dkim: Mapped[str | None] = mapped_column(String(200))
    attachments: Mapped[list[Any]] = mapped_column(default=list)  # [{media_id, name, type, size}]
    # A reply kept but not trusted (its sender is not the assist's customer, or it failed
    # SPF and DKIM): never acted on automatically.
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    flag_reason: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
