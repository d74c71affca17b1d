"""Cursor pagination for every list of the admin API (keyset, not offsets).

A list is ordered by a sort key ending in a unique column (the tiebreaker), so the order is
total and stable while rows are added. A page's `next_cursor` is the sort key of its last item,
encoded (base64url JSON naming the list it came from); the next page holds the items strictly
after it. Rows added meanwhile before the cursor are not shown on later pages, and none is
shown twice or skipped. `next_cursor` is null on the last page."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar

from aiohttp import web
from sqlalchemy import Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

from api.admin.params import query_of
from api.http import problem

T = TypeVar("T")
KeyKind = Literal["datetime", "int", "str"]
Key = tuple[Any, ...]
Column = ColumnElement[Any] | InstrumentedAttribute[Any]
BAD_CURSOR = "query parameter cursor is not one this list gave out: pass next_cursor as given"


@dataclass(frozen=True)
class Order:
    """How a list is ordered: NAME (cursors are bound to it), the kinds of its sort key's
    parts (the last one unique), and the direction."""

    name: str
    kinds: tuple[KeyKind, ...]
    descending: bool = False

    def encode(self, key: Key) -> str:
        parts = [v.astimezone(UTC).isoformat() if isinstance(v, datetime) else v for v in key]
        raw = json.dumps([self.name, parts], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def decode(self, cursor: str) -> Key:
        """The sort key CURSOR holds; raises a 400 problem for one another list (or nobody)
        gave out."""
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            name, parts = json.loads(raw)
        except (binascii.Error, ValueError, TypeError) as exc:
            raise problem(400, BAD_CURSOR) from exc
        if name != self.name or not isinstance(parts, list) or len(parts) != len(self.kinds):
            raise problem(400, BAD_CURSOR)
        return tuple(_part(kind, value) for kind, value in zip(self.kinds, parts, strict=True))


def _part(kind: KeyKind, value: Any) -> Any:
    # Only what the databases can bind: a 32-bit integer, text without NUL or lone surrogates.
    if (
        kind == "int"
        and isinstance(value, int)
        and not isinstance(value, bool)
        and -(2**31) <= value < 2**31
    ):
        return value
    if kind == "str" and isinstance(value, str) and "\x00" not in value:
        try:
            value.encode()
        except UnicodeEncodeError:
            pass
        else:
            return value
    if kind == "datetime" and isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is not None:
                return parsed
    raise problem(400, BAD_CURSOR)


@dataclass(frozen=True)
class PageOf(Generic[T]):
    items: list[T]
    next_cursor: str | None


def _after(columns: Sequence[Column], key: Key, descending: bool) -> Any:
    """SQL for "the row's sort key comes after KEY" in the list's order."""
    terms = []
    for i, column in enumerate(columns):
        equal = [c == v for c, v in zip(columns[:i], key[:i], strict=True)]
        beyond = column < key[i] if descending else column > key[i]
        terms.append(and_(*equal, beyond))
    return or_(*terms)


def _limit_and_cursor(request: web.Request, order: Order) -> tuple[int, Key | None]:
    query = query_of(request)
    cursor = query.get("cursor")
    # A list always declares `limit` with its default (api.admin.params.paged).
    return int(query["limit"]), (order.decode(cursor) if cursor is not None else None)


async def page_rows(
    request: web.Request,
    session: AsyncSession,
    query: Select[Any],
    order: Order,
    columns: Sequence[Column],
    key_of: Callable[[Any], Key],
    *,
    scalars: bool = True,
) -> PageOf[Any]:
    """One page of QUERY (its WHERE already set), ordered by COLUMNS in ORDER, at the request's
    `cursor` and `limit`. KEY_OF reads a row's sort key back."""
    limit, after = _limit_and_cursor(request, order)
    if after is not None:
        query = query.where(_after(columns, after, order.descending))
    query = query.order_by(*(c.desc() if order.descending else c.asc() for c in columns))
    query = query.limit(limit + 1)
    rows = list(await session.scalars(query) if scalars else await session.execute(query))
    return _cut(rows, limit, order, key_of)


async def page_fetched(
    request: web.Request,
    order: Order,
    fetch: Callable[[Key | None, int], Awaitable[list[T]]],
    key_of: Callable[[T], Key],
    *,
    most: int,
) -> PageOf[T]:
    """One page from FETCH(after, limit), a core listing that continues after a sort key and
    takes at most MOST rows at a time."""
    limit, after = _limit_and_cursor(request, order)
    rows = await fetch(after, min(limit + 1, most))
    if len(rows) > limit:
        return _cut(rows, limit, order, key_of)
    if len(rows) == limit and limit == most and rows and await fetch(key_of(rows[-1]), 1):
        return PageOf(rows, order.encode(key_of(rows[-1])))
    return PageOf(rows, None)


def page_items(
    request: web.Request, items: Sequence[T], order: Order, key_of: Callable[[T], Key]
) -> PageOf[T]:
    """One page of ITEMS (a short list computed whole, e.g. the live operators), sorted here."""
    limit, after = _limit_and_cursor(request, order)
    ordered = sorted(items, key=key_of, reverse=order.descending)
    if after is not None:
        ordered = [
            x for x in ordered if (key_of(x) < after if order.descending else key_of(x) > after)
        ]
    return _cut(ordered[: limit + 1], limit, order, key_of)


def _cut(rows: list[T], limit: int, order: Order, key_of: Callable[[T], Key]) -> PageOf[T]:
    if len(rows) <= limit:
        return PageOf(rows, None)
    shown = rows[:limit]
    return PageOf(shown, order.encode(key_of(shown[-1])))
