"""Revision 0013 gives every workspace made before it its default AI agent, and no other."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from sqlalchemy import select
from sqlalchemy.engine import Connection

from core.team.agents import serves_all
from storage.db import Database, alembic_config
from storage.domain import AiAgent
from storage.models import AuditEntry
from storage.types import UTCDateTime, new_id, utcnow


async def _migrate(db: Database, revision: str) -> None:
    def run(connection: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)

    async with db.engine.connect() as conn:
        await conn.run_sync(run)
        await conn.commit()


async def test_workspaces_without_an_agent_get_the_default_one(empty_database_url: str) -> None:
    db = Database(empty_database_url)
    try:
        await _migrate(db, "0012")
        bare, served = new_id(), new_id()
        # Rows as revision 0012 knew them (today's models have columns added since).
        workspaces = sa.table(
            "workspaces",
            *(sa.column(c) for c in ("id", "name", "plan", "timezone")),
            sa.column("created_at", UTCDateTime()),
        )
        agents = sa.table(
            "ai_agents",
            *(sa.column(c) for c in ("id", "workspace_id", "name")),
            sa.column("config", sa.JSON),
            sa.column("channels", sa.JSON),
            sa.column("created_at", UTCDateTime()),
        )
        async with db.engine.begin() as conn:
            await conn.execute(
                sa.insert(workspaces),
                [
                    {"id": i, "name": n, "plan": "pro", "timezone": "UTC", "created_at": utcnow()}
                    for i, n in ((bare, "Old Shop"), (served, "Served"))
                ],
            )
            await conn.execute(
                sa.insert(agents).values(
                    id=new_id(),
                    workspace_id=served,
                    name="Ava",
                    config={},
                    channels=["sms"],
                    created_at=utcnow(),
                )
            )
        await db.migrate()
        async with db.session() as session:
            agents = list(await session.scalars(select(AiAgent).order_by(AiAgent.name)))
            audited = await session.scalar(
                select(AuditEntry).where(AuditEntry.workspace_id == bare)
            )
        by_workspace = {a.workspace_id: a for a in agents}
        assert len(agents) == 2
        assert by_workspace[served].name == "Ava"
        assert by_workspace[bare].name == "Old Shop Assistant"
        assert serves_all(by_workspace[bare])
        assert by_workspace[bare].created_at.tzinfo is not None
        assert audited is not None and audited.action == "agent.create"
    finally:
        await db.dispose()
