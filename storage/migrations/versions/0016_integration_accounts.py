"""integrations: provider accounts with encrypted credentials, import runs, imported records,
telephony events

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 05:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHEN = sa.DateTime(timezone=True)


def _workspace() -> sa.Column[str]:
    return sa.Column(
        "workspace_id",
        sa.String(32),
        sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
        nullable=False,
    )


def _account() -> sa.Column[str]:
    return sa.Column(
        "account_id",
        sa.String(32),
        sa.ForeignKey("integration_accounts.id", ondelete="CASCADE"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "integration_accounts",
        sa.Column("id", sa.String(32), primary_key=True),
        _workspace(),
        sa.Column("provider", sa.String(30), nullable=False),
        sa.Column("label", sa.String(120), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("credentials", sa.Text(), nullable=False),
        sa.Column("masked", sa.JSON(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("last_test_at", _WHEN, nullable=True),
        sa.Column("last_test_ok", sa.Boolean(), nullable=True),
        sa.Column("last_test_message", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(80), nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
    )
    op.create_index(
        "ix_integration_accounts_provider", "integration_accounts", ["workspace_id", "provider"]
    )
    op.create_table(
        "imports",
        sa.Column("id", sa.String(32), primary_key=True),
        _workspace(),
        _account(),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("imported", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("cursor", sa.JSON(), nullable=False),
        sa.Column("requested_by", sa.String(80), nullable=True),
        sa.Column("claimed_by", sa.String(200), nullable=True),
        sa.Column("claim_token", sa.String(32), nullable=True),
        sa.Column("lease_until", _WHEN, nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("started_at", _WHEN, nullable=True),
        sa.Column("finished_at", _WHEN, nullable=True),
        sa.Column("updated_at", _WHEN, nullable=False),
    )
    op.create_index("ix_imports_claim", "imports", ["status", "lease_until"])
    op.create_index("ix_imports_account", "imports", ["account_id", "created_at"])
    op.create_table(
        "imported_records",
        sa.Column("id", sa.String(32), primary_key=True),
        _workspace(),
        _account(),
        sa.Column("source_id", sa.String(120), nullable=False),
        sa.Column("assist_id", sa.String(32), nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.UniqueConstraint("account_id", "source_id", name="uq_imported_records_source"),
    )
    op.create_table(
        "telephony_events",
        sa.Column("id", sa.String(32), primary_key=True),
        _workspace(),
        _account(),
        sa.Column("event_key", sa.String(200), nullable=False),
        sa.Column("assist_id", sa.String(32), nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.UniqueConstraint("account_id", "event_key", name="uq_telephony_events_key"),
    )


def downgrade() -> None:
    for table in ("telephony_events", "imported_records", "imports"):
        op.drop_table(table)
    op.drop_index("ix_integration_accounts_provider", table_name="integration_accounts")
    op.drop_table("integration_accounts")
