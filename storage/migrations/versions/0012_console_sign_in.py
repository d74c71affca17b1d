"""console: passwords, sessions, one-time links, sign-in attempts, invitation dates, and an
index for the consoles' change feed

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("members", sa.Column("password_hash", sa.String(200), nullable=True))
    op.add_column(
        "members", sa.Column("last_sign_in_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("invitations", sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "invitations", sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "workspace_id",
            sa.String(32),
            sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "member_id",
            sa.String(32),
            sa.ForeignKey("members.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("address", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.String(300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_console_sessions_member", "console_sessions", ["member_id"])
    op.create_table(
        "one_time_tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "workspace_id",
            sa.String(32),
            sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("purpose", sa.String(20), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column(
            "member_id",
            sa.String(32),
            sa.ForeignKey("members.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("invitation_id", sa.String(32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_one_time_tokens_member_id", "one_time_tokens", ["member_id"])
    op.create_index("ix_one_time_tokens_invitation_id", "one_time_tokens", ["invitation_id"])
    op.create_table(
        "sign_in_attempts",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_sign_in_attempts_email", "sign_in_attempts", ["email", "created_at"])
    op.create_index("ix_sign_in_attempts_address", "sign_in_attempts", ["address", "created_at"])
    op.create_index("ix_assists_updated", "assists", ["workspace_id", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_assists_updated", table_name="assists")
    op.drop_table("sign_in_attempts")
    op.drop_table("one_time_tokens")
    op.drop_table("console_sessions")
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): a batch copy would recreate `members`,
    # and dropping the old table cascades to every row that references a member.
    op.drop_column("invitations", "accepted_at")
    op.drop_column("invitations", "sent_at")
    op.drop_column("members", "last_sign_in_at")
    op.drop_column("members", "password_hash")
