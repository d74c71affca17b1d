"""`PATCH /api/v1/members/{id}` sets availability and the work schedule."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core.assists.records import create_assist
from storage.db import Database
from storage.domain import Assist
from storage.models import AuditEntry, Member
from tests.factories import make_tenant


async def test_availability_and_schedule_through_the_admin_api(
    db: Database, make_client: Any
) -> None:
    client = await make_client()
    tenant = await make_tenant(db, plan="enterprise")
    auth = {"Authorization": f"Bearer {tenant.key}"}
    url = f"/api/v1/members/{tenant.member_id}"

    response = await client.patch(url, headers=auth, json={"availability": "offline"})
    assert response.status == 200
    assert (await response.json())["availability"] == "offline"
    async with db.session() as session:
        waiting = await create_assist(
            session, workspace_id=tenant.workspace_id, subject="Help", summary=""
        )
    assert waiting.assignee_id is None

    # Back online: the waiting assist is handed over at once.
    response = await client.patch(url, headers=auth, json={"availability": "available"})
    assert (await response.json())["availability"] == "available"
    async with db.session() as session:
        assert (
            await session.scalar(select(Assist.assignee_id).where(Assist.id == waiting.id))
            == tenant.member_id
        )
        actions = list(
            await session.scalars(
                select(AuditEntry.action).where(AuditEntry.workspace_id == tenant.workspace_id)
            )
        )
    assert actions.count("member.availability") == 2

    # Schedules are stored as validated, and null clears them.
    never = {"tz": "Europe/Berlin", "days": {}}
    response = await client.patch(url, headers=auth, json={"work_schedule": never})
    body = await response.json()
    assert body["work_schedule"] == never
    every_day = {"tz": None, "days": {"mon": [["00:00", "24:00"]]}}
    response = await client.patch(url, headers=auth, json={"work_schedule": every_day})
    assert (await response.json())["work_schedule"] == every_day

    for bad, word in (
        ({"availability": "away"}, "availability"),
        ({"availability": None}, "availability"),
        ({"work_schedule": {"days": {"mon": [["17:00", "09:00"]]}}}, "ends before it starts"),
    ):
        response = await client.patch(url, headers=auth, json=bad)
        assert response.status == 400, bad
        assert word in str(await response.json()), bad
    response = await client.patch(url, headers=auth, json={"work_schedule": None})
    assert (await response.json())["work_schedule"] is None
    async with db.session() as session:
        member = await session.get(Member, tenant.member_id)
        assert member is not None and member.work_schedule is None
