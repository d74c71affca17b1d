"""`/api/v1/schedules`: briefing schedules."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from api.admin.auth import Caller
from api.admin.models import Page, ScheduleOut
from api.http import json_ok
from api.state import Gateway
from storage.domain import Schedule


async def list_schedules(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    async with gw.db.session() as session:
        rows = await session.scalars(
            select(Schedule).where(Schedule.workspace_id == who.workspace_id).order_by(Schedule.id)
        )
        items = [ScheduleOut.model_validate(r, from_attributes=True) for r in rows]
    return json_ok(Page[ScheduleOut](items=items))
