"""Storage: SQLAlchemy models, the async database handle, Alembic migrations."""
