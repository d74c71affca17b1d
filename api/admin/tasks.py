"""`/api/v1/tasks`: the inbound journal; one task's status comes from the web channel."""

from __future__ import annotations

from aiohttp import web

from api import web as web_channel
from api.admin.auth import Caller
from api.admin.listing import filtered_rows
from api.admin.models import Page, TaskSummary
from api.http import json_ok
from api.state import Gateway
from storage.models import TaskRow

TASK_STATUSES = ("queued", "running", "done", "failed")


async def list_tasks(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    rows = await filtered_rows(request, gw, who, TaskRow, TASK_STATUSES, TaskRow.received_at.desc())
    items = [
        TaskSummary(
            id=r.id,
            channel=r.channel,
            kind=r.kind,
            status=r.status,
            sender=f"{r.sender_channel}:{r.sender_address}",
            text=r.text,
            received_at=r.received_at,
            attempts=r.attempts,
        )
        for r in rows
    ]
    return json_ok(Page[TaskSummary](items=items))


async def get_task(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    task_id = request.match_info["task_id"]
    return json_ok(await web_channel.load_task(gw, task_id, who.workspace_id))
