"""`/api/v1/training/sources`: training sources with their fetch status."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from api.admin.auth import Caller
from api.admin.models import Page, TrainingSourceOut
from api.http import json_ok
from api.state import Gateway
from storage.domain import TrainingSource


async def list_training_sources(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    async with gw.db.session() as session:
        rows = await session.scalars(
            select(TrainingSource)
            .where(TrainingSource.workspace_id == who.workspace_id)
            .order_by(TrainingSource.id)
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
            for t in rows
        ]
    return json_ok(Page[TrainingSourceOut](items=items))
