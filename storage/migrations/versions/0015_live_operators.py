"""live operators: conversation messages and statuses, operator groups, presence, live
sessions, scopes and feature flags

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 05:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
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
    # Plain ADD COLUMN (no batch copy on SQLite: recreating `members` or `workspaces` would
    # cascade to every row referencing them). Server defaults fill the existing rows.
    op.add_column(
        "workspaces", sa.Column("features", sa.JSON(), nullable=False, server_default="{}")
    )
    op.add_column("workspaces", sa.Column("role_scopes", sa.JSON(), nullable=True))
    op.add_column("members", sa.Column("scopes", sa.JSON(), nullable=False, server_default="[]"))
    op.add_column(
        "ai_agents",
        sa.Column("live_routing", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "conversations",
        sa.Column("status", sa.String(20), nullable=False, server_default="open"),
    )
    op.add_column("conversations", sa.Column("address", sa.String(320), nullable=True))
    op.add_column("conversations", sa.Column("reply_route", sa.JSON(), nullable=True))
    op.add_column("conversations", sa.Column("assist_id", sa.String(32), nullable=True))
    op.add_column("conversations", sa.Column("live_session_id", sa.String(32), nullable=True))
    op.add_column("conversations", sa.Column("updated_at", _WHEN, nullable=True))
    op.execute("UPDATE conversations SET updated_at = COALESCE(ended_at, started_at)")
    op.create_index("ix_conversations_updated", "conversations", ["workspace_id", "updated_at"])

    op.create_table(
        "conversation_messages",
        sa.Column("id", sa.String(32), primary_key=True),
        _workspace(),
        sa.Column(
            "conversation_id",
            sa.String(32),
            sa.ForeignKey("conversations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("author", sa.String(20), nullable=False),
        sa.Column("member_id", sa.String(32), nullable=True),
        sa.Column("live_session_id", sa.String(32), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", _WHEN, nullable=False),
        sa.UniqueConstraint("workspace_id", "key", name="uq_conversation_messages_key"),
    )
    op.create_index(
        "ix_conversation_messages_order", "conversation_messages", ["conversation_id", "seq"]
    )
    op.create_table(
        "operator_groups",
        sa.Column("id", sa.String(32), primary_key=True),
        _workspace(),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.UniqueConstraint("workspace_id", "name", name="uq_operator_groups_name"),
    )
    op.create_table(
        "operator_group_agents",
        sa.Column(
            "group_id",
            sa.String(32),
            sa.ForeignKey("operator_groups.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "agent_id",
            sa.String(32),
            sa.ForeignKey("ai_agents.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        _workspace(),
    )
    op.create_table(
        "operator_group_members",
        sa.Column(
            "group_id",
            sa.String(32),
            sa.ForeignKey("operator_groups.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "member_id",
            sa.String(32),
            sa.ForeignKey("members.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        _workspace(),
    )
    op.create_index("ix_operator_group_members_member_id", "operator_group_members", ["member_id"])
    op.create_table(
        "operator_presence",
        sa.Column(
            "member_id",
            sa.String(32),
            sa.ForeignKey("members.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        _workspace(),
        sa.Column("workflows", sa.JSON(), nullable=False),
        sa.Column("via", sa.String(20), nullable=False),
        sa.Column("route", sa.JSON(), nullable=True),
        sa.Column("connection", sa.String(64), nullable=True),
        sa.Column("node", sa.String(200), nullable=True),
        sa.Column("since", _WHEN, nullable=False),
        sa.Column("seen_at", _WHEN, nullable=False),
        sa.Column("until", _WHEN, nullable=True),
    )
    op.create_index("ix_operator_presence_seen", "operator_presence", ["workspace_id", "seen_at"])
    op.create_table(
        "live_sessions",
        sa.Column("id", sa.String(32), primary_key=True),
        _workspace(),
        sa.Column(
            "conversation_id",
            sa.String(32),
            sa.ForeignKey("conversations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("agent_id", sa.String(32), nullable=True),
        sa.Column("group_id", sa.String(32), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("operator_id", sa.String(32), nullable=True),
        sa.Column("offered_to", sa.String(32), nullable=True),
        sa.Column("offer_expires_at", _WHEN, nullable=True),
        sa.Column("tried", sa.JSON(), nullable=False),
        sa.Column("held", sa.JSON(), nullable=False),
        sa.Column("slack", sa.JSON(), nullable=True),
        sa.Column("transferred_by", sa.String(32), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("accepted_at", _WHEN, nullable=True),
        sa.Column("ended_at", _WHEN, nullable=True),
        sa.Column("updated_at", _WHEN, nullable=False),
    )
    op.create_index("ix_live_sessions_status", "live_sessions", ["workspace_id", "status"])
    op.create_index("ix_live_sessions_offers", "live_sessions", ["status", "offer_expires_at"])
    op.create_index("ix_live_sessions_conversation", "live_sessions", ["conversation_id"])


def downgrade() -> None:
    for table in (
        "live_sessions",
        "operator_presence",
        "operator_group_members",
        "operator_group_agents",
        "operator_groups",
        "conversation_messages",
    ):
        op.drop_table(table)
    op.drop_index("ix_conversations_updated", table_name="conversations")
    for table, column in (
        ("conversations", "updated_at"),
        ("conversations", "live_session_id"),
        ("conversations", "assist_id"),
        ("conversations", "reply_route"),
        ("conversations", "address"),
        ("conversations", "status"),
        ("ai_agents", "live_routing"),
        ("members", "scopes"),
        ("workspaces", "role_scopes"),
        ("workspaces", "features"),
    ):
        op.drop_column(table, column)
