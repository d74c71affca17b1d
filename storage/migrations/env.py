"""Alembic environment: runs on the connection the caller passes, or opens one from the URL."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

import storage.domain  # noqa: F401  (registers the domain tables on Base.metadata)
from storage import email as _email_tables  # noqa: F401  (the email channel's table)
from storage import inbox as _inbox_tables  # noqa: F401  (customer conversations)
from storage import integrations as _integration_tables  # noqa: F401  (provider accounts)
from storage import linking as _linking_tables  # noqa: F401  (link codes)
from storage import live as _live_tables  # noqa: F401  (live operators)
from storage import voice as _voice_tables  # noqa: F401  (the voice channel's calls)
from storage.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_url(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        await conn.run_sync(_run)
        await conn.commit()
    await engine.dispose()


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
elif (connection := config.attributes.get("connection")) is not None:
    _run(connection)
else:
    asyncio.run(_run_with_url(config.get_main_option("sqlalchemy.url") or ""))
