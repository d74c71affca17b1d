"""`/api/v1/audit`: the audit log, newest first."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from api.admin.auth import Caller
from api.admin.models import AuditOut, Page
from api.http import json_ok, query_int
from api.state import Gateway
from storage.models import AuditEntry


async def list_audit(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    limit = query_int(request, "limit", 100, lo=1, hi=1000)
    async with gw.db.session() as session:
        rows = await session.scalars(
            select(AuditEntry)
            .where(AuditEntry.workspace_id == who.workspace_id)
            .order_by(AuditEntry.created_at.desc())
            .limit(limit)
        )
        items = [AuditOut.model_validate(r, from_attributes=True) for r in rows]
    return json_ok(Page[AuditOut](items=items))
