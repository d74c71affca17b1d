"""`/api/v1/audit`: the audit log, newest first."""

from __future__ import annotations

from aiohttp import web

from api.admin.auth import Caller
from api.admin.listing import newest_first
from api.admin.models import AuditOut, Page
from api.admin.pagination import Order
from api.http import json_ok
from api.state import Gateway
from storage.models import AuditEntry

ORDER = Order("audit", ("datetime", "str"), descending=True)


async def list_audit(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    """Newest first; `?action=`, `?actor=`, `?target=`, `?created_after=`, `?created_before=`."""
    found = await newest_first(
        request,
        gw,
        who,
        AuditEntry,
        AuditEntry.created_at,
        ORDER,
        filters={
            "action": AuditEntry.action,
            "actor": AuditEntry.actor,
            "target": AuditEntry.target,
        },
    )
    items = [AuditOut.model_validate(r, from_attributes=True) for r in found.items]
    return json_ok(Page[AuditOut](items=items, next_cursor=found.next_cursor))
