"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect, TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, whatever the backend stores."""

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type[datetime]:
        return datetime

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        # SQLite stores text: keep one format without an offset so comparisons sort correctly.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    # On SQLite, the text is made by `datetime.isoformat`: SQLAlchemy's own SQLite processor
    # formats the result of `process_bind_param` with a %-template of seven fields (2.1 us a
    # value, 1.5 this way), and every row the hot path writes carries several. The text is the
    # same as theirs ("2026-12-07 09:30:00.000000", microseconds always written).

    def bind_processor(self, dialect: Dialect) -> Any:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def process(value: datetime | None) -> str | None:
            naive = self.process_bind_param(value, dialect)
            return None if naive is None else naive.isoformat(" ", "microseconds")

        return process


def utcnow() -> datetime:
    return datetime.now(UTC)


_RANDOM_BITS = (1 << 62) - 1


def new_id() -> str:
    """A new row's id: a UUID version 7 (RFC 9562) as 32 hex digits. Its first 48 bits are the
    Unix time in milliseconds, so rows written one after another sit side by side in every
    primary-key index: a batch of new tasks dirties a page or two at the index's end instead
    of one page per row at random places (what a random UUID costs in pages written and in
    cache, more the bigger the table). The other 74 bits are random, so ids stay unguessable
    and distinct across nodes; their end, not their start, tells rows of the same moment
    apart. (Python's uuid module makes version 7 only from 3.14.)"""
    milliseconds = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")  # 80 bits, 74 of them used
    value = (
        (milliseconds & 0xFFFF_FFFF_FFFF) << 80
        | 0x7 << 76  # version
        | (rand >> 68) << 64  # 12 random bits
        | 0b10 << 62  # variant
        | (rand & _RANDOM_BITS)
    )
    return f"{value:032x}"


def short_reference(row_id: str) -> str:
    """Eight characters of ROW_ID a person can quote (in a reply, to support): its random end,
    since ids made in the same minute share their first characters."""
    return row_id[-8:]
