"""UTC datetime columns: what SQLite stores is SQLAlchemy's own text, whatever the offset given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    Table,
    create_engine,
    insert,
    select,
    text,
)
from sqlalchemy.exc import StatementError

from storage.types import UTCDateTime

_table = Table(
    "stamps", MetaData(), Column("id", Integer, primary_key=True), Column("at", UTCDateTime())
)

MOMENTS = [
    datetime(2026, 12, 7, 9, 30, 0, 123456, tzinfo=UTC),
    datetime(2026, 12, 7, 9, 30, tzinfo=UTC),  # no microseconds: still written, six digits
    datetime(2026, 12, 7, 4, 30, tzinfo=timezone(timedelta(hours=-5))),  # stored as UTC
    datetime(999, 1, 1, tzinfo=UTC),  # a four-digit year, zero-padded
]


def test_sqlite_stores_sqlalchemys_own_text_in_utc_and_reads_the_same_moment() -> None:
    engine = create_engine("sqlite://")
    reference = DateTime().dialect_impl(engine.dialect).bind_processor(engine.dialect)
    assert reference is not None
    with engine.begin() as connection:
        _table.create(connection)
        connection.execute(insert(_table), [{"id": n, "at": at} for n, at in enumerate(MOMENTS)])
        stored = connection.execute(text("SELECT at FROM stamps ORDER BY id")).scalars().all()
        read = connection.execute(select(_table.c.at).order_by(_table.c.id)).scalars().all()
    expected = [reference(at.astimezone(UTC).replace(tzinfo=None)) for at in MOMENTS]
    assert stored == expected
    assert stored[2] == "2026-12-07 09:30:00.000000"
    assert read == MOMENTS and all(at.tzinfo is UTC for at in read)


def test_a_naive_datetime_is_refused_and_nothing_is_written() -> None:
    engine = create_engine("sqlite://")
    with engine.begin() as connection:
        _table.create(connection)
    with pytest.raises(StatementError, match="naive datetime"), engine.begin() as connection:
        connection.execute(insert(_table), {"id": 1, "at": datetime(2026, 12, 7, 9, 30)})
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM stamps")).scalar() == 0
