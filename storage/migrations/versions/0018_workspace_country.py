"""the workspace's country: phone numbers written the national way are read as its numbers

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 09:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch copy on SQLite); NULL: no country, numbers need their code.
    op.add_column("workspaces", sa.Column("country", sa.String(2), nullable=True))


def downgrade() -> None:
    op.drop_column("workspaces", "country")
