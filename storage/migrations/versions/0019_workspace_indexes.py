"""indexes by workspace for the tables every customer message or read reads by workspace

The customer agent's answers (its agent, its Q&A pairs, the knowledge gaps it records), the
knowledge-gap and training reads: each filtered by workspace, and each read every workspace's
rows without an index leading with it.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 04:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = (
    ("ix_ai_agents_workspace", "ai_agents", ["workspace_id"]),
    ("ix_qa_pairs_workspace", "qa_pairs", ["workspace_id"]),
    ("ix_training_sources_workspace", "training_sources", ["workspace_id"]),
    ("ix_training_suggestions_workspace", "training_suggestions", ["workspace_id", "status"]),
    ("ix_knowledge_gaps_workspace", "knowledge_gaps", ["workspace_id", "resolved", "occurrences"]),
)


def upgrade() -> None:
    for name, table, columns in _INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _columns in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
