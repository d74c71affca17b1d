"""Workspace-scoped listings with `?status=` and `?limit=`."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select

from api.admin.auth import Caller
from api.http import problem, query_int
from api.state import Gateway


def _status_filter(request: web.Request, allowed: tuple[str, ...]) -> str | None:
    status = request.query.get("status")
    if status is not None and status not in allowed:
        raise problem(400, f"status must be one of {', '.join(allowed)}")
    return status


async def filtered_rows(
    request: web.Request,
    gw: Gateway,
    who: Caller,
    model: Any,
    statuses: tuple[str, ...],
    order: Any,
) -> list[Any]:
    """The caller's workspace rows of MODEL, optionally `?status=`, newest first, `?limit=`."""
    status = _status_filter(request, statuses)
    limit = query_int(request, "limit", 50, lo=1, hi=500)
    query = select(model).where(model.workspace_id == who.workspace_id)
    if status:
        query = query.where(model.status == status)
    async with gw.db.session() as session:
        return list(await session.scalars(query.order_by(order).limit(limit)))


def known_params(request: web.Request, allowed: tuple[str, ...]) -> None:
    """Refuse a query parameter the route does not take: a misspelt filter would otherwise
    silently list everything."""
    unknown = sorted(set(request.query) - set(allowed))
    if unknown:
        takes = ", ".join(allowed) if allowed else "none"
        raise problem(400, f"unknown query parameter {unknown[0]!r}; this route takes: {takes}")
