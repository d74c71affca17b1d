"""the conversations' start-time index carries the columns the metrics count

The metric statement (`core.reports.analytics`) counts, per range of start times, the
conversations, how many the AI resolved, how many were escalated and their scores, per
channel and topic. With those columns in the index it reads the index alone instead of each
conversation's row: for a month of the demo data, 327 -> 240 us of CPU on SQLite, and less of
the database's pages to read again after another connection wrote. The index keeps its name
and its first two columns, so every read by workspace and start time still uses it.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 06:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NAME = "ix_conversations_started"
_FIGURES = ["channel", "topic", "resolved_by_ai", "escalated", "csat"]


def upgrade() -> None:
    op.drop_index(_NAME, table_name="conversations")
    op.create_index(_NAME, "conversations", ["workspace_id", "started_at", *_FIGURES])


def downgrade() -> None:
    op.drop_index(_NAME, table_name="conversations")
    op.create_index(_NAME, "conversations", ["workspace_id", "started_at"])
