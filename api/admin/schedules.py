"""`/api/v1/schedules`: briefing schedules."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from api.admin.auth import Caller
from api.admin.models import Page, ScheduleOut
from api.admin.pagination import Order, page_rows
from api.admin.params import query_of
from api.http import json_ok
from api.state import Gateway
from storage.domain import Schedule

ORDER = Order("schedules", ("int",))


async def list_schedules(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    """In the order they were made; `?member_id=`, `?briefing_type=`, `?active=`."""
    q = query_of(request)
    query = select(Schedule).where(Schedule.workspace_id == who.workspace_id)
    if "member_id" in q:
        query = query.where(Schedule.member_id == q["member_id"])
    if "briefing_type" in q:
        query = query.where(Schedule.briefing_type == q["briefing_type"])
    if "active" in q:
        query = query.where(Schedule.active == q["active"])
    async with gw.db.session() as session:
        found = await page_rows(request, session, query, ORDER, (Schedule.id,), lambda s: (s.id,))
        items = [ScheduleOut.model_validate(r, from_attributes=True) for r in found.items]
    return json_ok(Page[ScheduleOut](items=items, next_cursor=found.next_cursor))
