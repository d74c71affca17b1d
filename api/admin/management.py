"""`GET /api/v1/management`: the team's workload and the queue's health, as the console's
Management view shows them (figures from core.reports.management)."""

from __future__ import annotations

from aiohttp import web

from api.admin.auth import Caller
from api.admin.models import ManagementOut, MemberWorkloadOut, QueueOut
from api.http import json_ok
from api.state import Gateway
from core.reports.management import management_figures
from storage.types import utcnow


async def get_management(request: web.Request, gw: Gateway, who: Caller) -> web.Response:
    async with gw.db.session() as session:
        figures = await management_figures(session, who.workspace_id, utcnow())
    queue = figures.queue
    return json_ok(
        ManagementOut(
            members=[
                MemberWorkloadOut(
                    member_id=m.member_id,
                    name=m.name,
                    email=m.email,
                    availability=m.availability,
                    open_assists=m.open_assists,
                    avg_resolution_seconds=m.avg_resolution_seconds,
                    csat=m.csat,
                    high_load=m.high_load,
                )
                for m in figures.members
            ],
            queue=QueueOut(
                unassigned=queue.unassigned,
                oldest_unassigned_age_seconds=queue.oldest_unassigned_age_seconds,
                backlog_7d=queue.backlog_7d,
            ),
        )
    )
