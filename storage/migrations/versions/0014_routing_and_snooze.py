"""routing: availability, work schedules, caps, notification addresses; snooze

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 03:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy on SQLite: recreating `members` or `workspaces` would
    # cascade to every row referencing them). Server defaults fill the existing rows.
    op.add_column(
        "workspaces",
        sa.Column("notification_addresses", sa.JSON(), nullable=False, server_default="[]"),
    )
    op.add_column(
        "workspaces",
        sa.Column("availability_managed", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "members",
        sa.Column("availability", sa.String(20), nullable=False, server_default="available"),
    )
    op.add_column("members", sa.Column("availability_until", _WHEN, nullable=True))
    op.add_column("members", sa.Column("availability_changed_at", _WHEN, nullable=True))
    op.add_column("members", sa.Column("work_schedule", sa.JSON(), nullable=True))
    op.add_column("members", sa.Column("assist_cap", sa.Integer(), nullable=True))
    op.add_column("assists", sa.Column("assigned_at", _WHEN, nullable=True))
    op.add_column("assists", sa.Column("snoozed_until", _WHEN, nullable=True))
    op.create_index("ix_assists_assignee", "assists", ["workspace_id", "assignee_id", "status"])
    op.create_index("ix_assists_snoozed", "assists", ["status", "snoozed_until"])


def downgrade() -> None:
    op.drop_index("ix_assists_snoozed", table_name="assists")
    op.drop_index("ix_assists_assignee", table_name="assists")
    for table, column in (
        ("assists", "snoozed_until"),
        ("assists", "assigned_at"),
        ("members", "assist_cap"),
        ("members", "work_schedule"),
        ("members", "availability_changed_at"),
        ("members", "availability_until"),
        ("members", "availability"),
        ("workspaces", "availability_managed"),
        ("workspaces", "notification_addresses"),
    ):
        op.drop_column(table, column)
