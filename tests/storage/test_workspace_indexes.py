"""What a customer message and the team's reads look up by workspace is found by an index
leading with the workspace, on both databases: never by reading every workspace's rows."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.sql import ClauseElement

from core.reports.knowledge_gaps import _OPEN_GAPS
from storage.db import Database
from storage.domain import AiAgent, KnowledgeGap, QaPair, TrainingSource, TrainingSuggestion
from tests.helpers import query_plan

INDEXES = {
    "ai_agents": "ix_ai_agents_workspace",
    "qa_pairs": "ix_qa_pairs_workspace",
    "training_sources": "ix_training_sources_workspace",
    "training_suggestions": "ix_training_suggestions_workspace",
    "knowledge_gaps": "ix_knowledge_gaps_workspace",
}

# The statements of the code that reads these tables by workspace (core.team.agents,
# core.assists.knowledge and .answering, core.reports.knowledge_gaps, core.tools.reads).
QUERIES: list[tuple[str, ClauseElement]] = [
    (
        "ai_agents",
        select(AiAgent).where(AiAgent.workspace_id == "w").order_by(AiAgent.created_at, AiAgent.id),
    ),
    (
        "qa_pairs",
        select(QaPair)
        .where(QaPair.workspace_id == "w", QaPair.active.is_(True))
        .order_by(QaPair.id),
    ),
    (
        "training_sources",
        select(TrainingSource)
        .where(
            TrainingSource.workspace_id == "w",
            TrainingSource.active.is_(True),
            TrainingSource.content.is_not(None),
        )
        .order_by(TrainingSource.id),
    ),
    (
        "training_suggestions",
        select(TrainingSuggestion).where(
            TrainingSuggestion.workspace_id == "w", TrainingSuggestion.status == "pending"
        ),
    ),
    (
        "knowledge_gaps",
        select(KnowledgeGap).where(
            KnowledgeGap.workspace_id == "w",
            KnowledgeGap.resolved.is_(False),
            func.lower(KnowledgeGap.question) == "q",
        ),
    ),
]


async def test_the_migrations_make_the_indexes(db: Database) -> None:
    async with db.engine.connect() as conn:
        if db.is_sqlite:
            found = await conn.execute(text("SELECT name FROM sqlite_master WHERE type='index'"))
        else:
            found = await conn.execute(text("SELECT indexname FROM pg_indexes"))
        names = {row[0] for row in found}
    assert set(INDEXES.values()) <= names


async def test_sqlite_reads_them_by_workspace_through_the_index(db: Database) -> None:
    if not db.is_sqlite:
        pytest.skip("the query plans looked at are SQLite's")
    statements = [(table, str(q.compile(dialect=sqlite.dialect()))) for table, q in QUERIES]
    statements += [
        ("knowledge_gaps", _OPEN_GAPS[since].plan(db.engine.dialect).sql) for since in (False, True)
    ]
    for table, sql in statements:
        steps = [row[3] for row in query_plan(db, sql)]
        assert not any(step.startswith(f"SCAN {table}") for step in steps), (sql, steps)
        assert any(INDEXES[table] in step for step in steps), (sql, steps)
