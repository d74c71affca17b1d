"""linking chat identities: link codes, their failed attempts, and the workspace setting
that links Slack users by their verified email

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 08:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
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


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy on SQLite: recreating `workspaces` would cascade to every
    # row referencing it). The server default fills the existing rows: off.
    op.add_column(
        "workspaces",
        sa.Column("slack_email_linking", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "link_codes",
        sa.Column("id", sa.String(32), primary_key=True),
        _workspace(),
        sa.Column(
            "member_id",
            sa.String(32),
            sa.ForeignKey("members.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("expires_at", _WHEN, nullable=False),
        sa.Column("used_at", _WHEN, nullable=True),
        sa.Column("used_channel", sa.String(20), nullable=True),
        sa.UniqueConstraint("workspace_id", "code_hash", name="uq_link_codes_code"),
    )
    op.create_index("ix_link_codes_member_id", "link_codes", ["member_id"])
    op.create_table(
        "link_attempts",
        sa.Column("id", sa.String(32), primary_key=True),
        _workspace(),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
    )
    op.create_index(
        "ix_link_attempts_sender",
        "link_attempts",
        ["workspace_id", "channel", "address", "created_at"],
    )
    op.create_index("ix_link_attempts_workspace", "link_attempts", ["workspace_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_link_attempts_workspace", table_name="link_attempts")
    op.drop_index("ix_link_attempts_sender", table_name="link_attempts")
    op.drop_table("link_attempts")
    op.drop_index("ix_link_codes_member_id", table_name="link_codes")
    op.drop_table("link_codes")
    op.drop_column("workspaces", "slack_email_linking")
