"""`/api/v1/workspaces`: the API key's own workspace."""

from __future__ import annotations

from aiohttp import web

from api.admin.auth import Caller
from api.admin.models import Page, WorkspaceOut
from api.admin.pagination import Order, page_items
from api.http import json_ok, problem
from api.state import Gateway
from storage.models import Workspace

ORDER = Order("workspaces", ("str",))


def _workspace_out(ws: Workspace) -> WorkspaceOut:
    return WorkspaceOut(
        id=ws.id,
        name=ws.name,
        plan=ws.plan,
        timezone=ws.timezone,
        country=ws.country,
        created_at=ws.created_at,
    )


async def list_workspaces(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    async with gw.db.session() as session:
        ws = await session.get(Workspace, who.workspace_id)
        found = page_items(request, [ws] if ws else [], ORDER, lambda w: (w.id,))
    items = [_workspace_out(w) for w in found.items]
    return json_ok(Page[WorkspaceOut](items=items, next_cursor=found.next_cursor))


async def get_workspace(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    if request.match_info["workspace_id"] != who.workspace_id:
        raise problem(404, "no such workspace")
    async with gw.db.session() as session:
        ws = await session.get(Workspace, who.workspace_id)
        if ws is None:
            raise problem(404, "no such workspace")
        return json_ok(_workspace_out(ws))
