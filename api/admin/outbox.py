"""`/api/v1/outbox`: replies with their delivery state, and dead-letter replay."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from api.admin.auth import Caller
from api.admin.listing import newest_first
from api.admin.models import OutboxOut, Page, ReplayOut
from api.admin.pagination import Order
from api.http import json_ok, problem
from api.state import Gateway
from core.team import directory
from delivery.outbox.queue import replay
from storage.models import OutboxRow

OUTBOX_STATUSES = ("pending", "sending", "sent", "dead")
ORDER = Order("outbox", ("datetime", "str"), descending=True)


async def list_outbox(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    """Newest first; `?status=`, `?channel=`, `?task_id=`, `?created_after=`,
    `?created_before=`."""
    found = await newest_first(
        request,
        gw,
        who,
        OutboxRow,
        OutboxRow.created_at,
        ORDER,
        filters={
            "status": OutboxRow.status,
            "channel": OutboxRow.channel,
            "task_id": OutboxRow.task_id,
        },
    )
    items = [OutboxOut.model_validate(r, from_attributes=True) for r in found.items]
    return json_ok(Page[OutboxOut](items=items, next_cursor=found.next_cursor))


async def replay_one(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    outbox_id = request.match_info["outbox_id"]
    async with gw.db.session() as session:
        row = await session.scalar(
            select(OutboxRow).where(
                OutboxRow.id == outbox_id, OutboxRow.workspace_id == who.workspace_id
            )
        )
        if row is None:
            raise problem(404, f"no outbox entry {outbox_id!r}")
        if row.status != "dead":
            raise problem(409, f"outbox entry is {row.status}; only dead letters can be replayed")
        count = await replay(session, who.workspace_id, outbox_id)
        await directory.audit(session, who.workspace_id, who.actor, "outbox.replay", outbox_id)
    gw.wake_outbox()
    return json_ok(ReplayOut(replayed=count))


async def replay_all(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    async with gw.db.session() as session:
        count = await replay(session, who.workspace_id)
        await directory.audit(
            session, who.workspace_id, who.actor, "outbox.replay_all", None, {"count": count}
        )
    gw.wake_outbox()
    return json_ok(ReplayOut(replayed=count))
