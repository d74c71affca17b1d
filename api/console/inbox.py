"""The AI Inbox: assists by status, newest first."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from api.console.session import page, require
from api.state import GATEWAY
from storage.domain import Assist
from storage.types import utcnow

STATUSES = ("open", "pending", "closed")


async def inbox(request: web.Request) -> web.Response:
    who = await require(request, "inbox")
    status = request.query.get("status", "open")
    if status not in STATUSES:
        status = "open"
    gateway = request.app[GATEWAY]
    async with gateway.db.session() as session:
        assists = list(
            await session.scalars(
                select(Assist)
                .where(Assist.workspace_id == who.workspace_id, Assist.status == status)
                .order_by(Assist.created_at.desc(), Assist.number.desc())
                .limit(200)
            )
        )
    return page(
        request, "inbox.html", who, title="AI Inbox", assists=assists, status=status, now=utcnow()
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/console/inbox", inbox)
