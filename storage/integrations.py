"""Connected provider accounts (help desks to import from, telephony lines) with their
credentials encrypted (core/integrations/vault.py), the import runs, what was imported from
where (so nothing is imported twice), and the telephony events seen (so a redelivered
voicemail makes one assist). Every row carries `workspace_id`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models import Base
from storage.types import new_id, utcnow


class IntegrationAccount(Base):
    """One account of a provider: `credentials` is the vault's token (never clear text);
    `masked` is what may be shown back (the last characters of each secret, the plain
    non-secret fields); `state` is the provider's bookkeeping (webhook subscription ids and
    their expiry, the last import's cursor)."""

    __tablename__ = "integration_accounts"
    __table_args__ = (Index("ix_integration_accounts_provider", "workspace_id", "provider"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(30))
    label: Mapped[str] = mapped_column(String(120))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    credentials: Mapped[str] = mapped_column(Text)
    masked: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_test_at: Mapped[datetime | None] = mapped_column()
    last_test_ok: Mapped[bool | None] = mapped_column(Boolean)
    last_test_message: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ImportRun(Base):
    """One import from a help-desk account: `queued`, `running` (claimed by a node until
    `lease_until`; a lapsed lease is claimed again and resumes from `cursor`), `done` or
    `failed` (with `error`); `imported` and `skipped` count tickets."""

    __tablename__ = "imports"
    __table_args__ = (
        Index("ix_imports_claim", "status", "lease_until"),
        Index("ix_imports_account", "account_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    account_id: Mapped[str] = mapped_column(
        ForeignKey("integration_accounts.id", ondelete="CASCADE")
    )
    status: Mapped[str] = mapped_column(String(20), default="queued")
    imported: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    cursor: Mapped[dict[str, Any]] = mapped_column(default=dict)
    requested_by: Mapped[str | None] = mapped_column(String(80))
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claim_token: Mapped[str | None] = mapped_column(String(32))
    lease_until: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ImportedRecord(Base):
    """A ticket imported from an account, by the provider's own id: imported once."""

    __tablename__ = "imported_records"
    __table_args__ = (
        UniqueConstraint("account_id", "source_id", name="uq_imported_records_source"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    account_id: Mapped[str] = mapped_column(
        ForeignKey("integration_accounts.id", ondelete="CASCADE")
    )
    source_id: Mapped[str] = mapped_column(String(120))
    assist_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TelephonyEvent(Base):
    """A provider's voicemail event seen on a line, by the provider's id for it: one assist
    however often it is delivered; `assist_id` is where a transcript arriving later goes."""

    __tablename__ = "telephony_events"
    __table_args__ = (UniqueConstraint("account_id", "event_key", name="uq_telephony_events_key"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    account_id: Mapped[str] = mapped_column(
        ForeignKey("integration_accounts.id", ondelete="CASCADE")
    )
    event_key: Mapped[str] = mapped_column(String(200))
    assist_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
