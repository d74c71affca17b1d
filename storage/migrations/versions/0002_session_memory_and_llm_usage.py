"""session memory and LLM usage per task

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "session_messages",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("member_id", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_session_messages_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_session_messages_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_messages")),
    )
    op.create_index(
        "ix_session_messages_recent",
        "session_messages",
        ["workspace_id", "member_id", "created_at"],
        unique=False,
    )
    # Plain ADD COLUMN works on both SQLite and PostgreSQL: no table rebuild needed.
    op.add_column("tasks", sa.Column("llm_backend", sa.String(length=64), nullable=True))
    op.add_column("tasks", sa.Column("llm_prompt_tokens", sa.Integer(), nullable=True))
    op.add_column("tasks", sa.Column("llm_completion_tokens", sa.Integer(), nullable=True))
    op.add_column("tasks", sa.Column("llm_cost_usd", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_column("llm_cost_usd")
        batch_op.drop_column("llm_completion_tokens")
        batch_op.drop_column("llm_prompt_tokens")
        batch_op.drop_column("llm_backend")
    op.drop_index("ix_session_messages_recent", table_name="session_messages")
    op.drop_table("session_messages")
