"""The journal-like lists (tasks, outbox, proposals, snapshots, audit): the caller's
workspace, newest first, with the filters each declares, a page at a time."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute

from api.admin.auth import Caller
from api.admin.pagination import Order, PageOf, page_rows
from api.admin.params import query_of
from api.state import Gateway


async def newest_first(
    request: web.Request,
    gw: Gateway,
    who: Caller,
    model: Any,
    at: InstrumentedAttribute[Any],
    order: Order,
    *,
    filters: dict[str, InstrumentedAttribute[Any]] | None = None,
) -> PageOf[Any]:
    """A page of the workspace's MODEL rows, newest first by AT (then id, the tiebreaker).
    FILTERS map a query parameter to the column it must equal; `created_after` and
    `created_before`, when the route takes them, bound AT."""
    q = query_of(request)
    query = select(model).where(model.workspace_id == who.workspace_id)
    for name, column in (filters or {}).items():
        if name in q:
            query = query.where(column == q[name])
    if "created_after" in q:
        query = query.where(at >= q["created_after"])
    if "created_before" in q:
        query = query.where(at < q["created_before"])
    async with gw.db.session() as session:
        return await page_rows(
            request,
            session,
            query,
            order,
            (at, model.id),
            lambda row: (getattr(row, at.key), row.id),
        )
