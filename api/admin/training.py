"""`/api/v1/training/sources`: training sources with their fetch status."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from api.admin.auth import Caller
from api.admin.models import Page, TrainingSourceOut
from api.admin.pagination import Order, page_rows
from api.admin.params import query_of
from api.http import json_ok
from api.state import Gateway
from storage.domain import TrainingSource

ORDER = Order("training_sources", ("int",))
KINDS = ("text", "url")
FETCH_STATUSES = ("pending", "fetching", "fetched", "failed")


async def list_training_sources(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    """In the order they were added; `?kind=`, `?active=`, `?fetch_status=`."""
    q = query_of(request)
    query = select(TrainingSource).where(TrainingSource.workspace_id == who.workspace_id)
    if "kind" in q:
        query = query.where(TrainingSource.kind == q["kind"])
    if "active" in q:
        query = query.where(TrainingSource.active == q["active"])
    if "fetch_status" in q:
        query = query.where(TrainingSource.fetch_status == q["fetch_status"])
    async with gw.db.session() as session:
        found = await page_rows(
            request, session, query, ORDER, (TrainingSource.id,), lambda t: (t.id,)
        )
        items = [
            TrainingSourceOut(
                id=t.id,
                kind=t.kind,
                title=t.title,
                url=t.url,
                active=t.active,
                content_chars=len(t.content or ""),
                fetch_status=t.fetch_status,
                fetch_error=t.fetch_error,
                fetched_at=t.fetched_at,
                created_at=t.created_at,
            )
            for t in found.items
        ]
    return json_ok(Page[TrainingSourceOut](items=items, next_cursor=found.next_cursor))
