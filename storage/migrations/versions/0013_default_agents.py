"""a default AI agent for every workspace that has none

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 03:00:00

Workspaces are now created with an AI agent serving all their channels. One made before had
none unless it was seeded with one, and its customers' messages could only be recorded for the
team; this gives each such workspace the same default agent a new one gets ("<name>
Assistant", every channel, no settings of its own), and audits it.
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_workspaces = sa.table("workspaces", sa.column("id", sa.String), sa.column("name", sa.String))
_agents = sa.table(
    "ai_agents",
    sa.column("id", sa.String),
    sa.column("workspace_id", sa.String),
    sa.column("name", sa.String),
    sa.column("config", sa.JSON),
    sa.column("channels", sa.JSON),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
_audit = sa.table(
    "audit_log",
    sa.column("id", sa.String),
    sa.column("workspace_id", sa.String),
    sa.column("actor", sa.String),
    sa.column("action", sa.String),
    sa.column("target", sa.String),
    sa.column("details", sa.JSON),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    bind = op.get_bind()
    without = bind.execute(
        sa.select(_workspaces.c.id, _workspaces.c.name).where(
            ~sa.exists().where(_agents.c.workspace_id == _workspaces.c.id)
        )
    ).all()
    now = datetime.now(UTC)
    if bind.dialect.name == "sqlite":  # stored as naive UTC text there (storage.types)
        now = now.replace(tzinfo=None)
    for workspace_id, name in without:
        agent_id = uuid.uuid4().hex
        agent_name = f"{name} Assistant"[:120].strip()
        bind.execute(
            sa.insert(_agents).values(
                id=agent_id,
                workspace_id=workspace_id,
                name=agent_name,
                config={},
                channels=[],
                created_at=now,
            )
        )
        bind.execute(
            sa.insert(_audit).values(
                id=uuid.uuid4().hex,
                workspace_id=workspace_id,
                actor="migration:0013",
                action="agent.create",
                target=agent_id,
                details={"name": agent_name},
                created_at=now,
            )
        )


def downgrade() -> None:
    # The agents may have been configured and answered customers since: they stay.
    pass
