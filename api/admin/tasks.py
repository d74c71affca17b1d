"""`/api/v1/tasks`: the inbound journal; one task's status comes from the web channel."""

from __future__ import annotations

from aiohttp import web

from api import web as web_channel
from api.admin.auth import Caller
from api.admin.listing import newest_first
from api.admin.models import Page, TaskSummary
from api.admin.pagination import Order
from api.http import json_ok
from api.state import Gateway
from storage.models import TaskRow

TASK_STATUSES = ("queued", "running", "done", "failed")
ORDER = Order("tasks", ("datetime", "str"), descending=True)


async def list_tasks(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    """Newest first; `?status=`, `?channel=`, `?kind=`, `?created_after=`, `?created_before=`
    (bounds on when the task was received)."""
    found = await newest_first(
        request,
        gw,
        who,
        TaskRow,
        TaskRow.received_at,
        ORDER,
        filters={"status": TaskRow.status, "channel": TaskRow.channel, "kind": TaskRow.kind},
    )
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
        for r in found.items
    ]
    return json_ok(Page[TaskSummary](items=items, next_cursor=found.next_cursor))


async def get_task(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    task_id = request.match_info["task_id"]
    return json_ok(await web_channel.load_task(gw, task_id, who.workspace_id))
