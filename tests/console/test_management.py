"""The Management view's actions on the server: who may set whose availability, CSRF, and a
foreign member or assist refused."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from storage.db import Database
from storage.domain import Assist
from storage.models import AuditEntry, Member
from storage.types import utcnow
from tests.console.helpers import origin, sign_in
from tests.factories import make_member, make_tenant
from tests.management_team import seed_team


async def _availability(db: Database, member_id: str) -> str:
    async with db.session() as session:
        member = await session.get(Member, member_id)
        assert member is not None
        return member.availability


async def test_a_manager_sets_their_own_availability_not_others(
    make_client: Any, db: Database
) -> None:
    team = await seed_team(db, utcnow())
    client = await make_client()
    csrf = await sign_in(client, db, team.priya)  # a manager
    url = "/console/management/availability"
    refused = await client.post(
        url,
        data={"csrf_token": csrf, "member_id": team.maria, "availability": "offline"},
        headers=origin(client),
        allow_redirects=False,
    )
    assert refused.status == 403
    assert await _availability(db, team.maria) == "available"
    done = await client.post(
        url,
        data={"csrf_token": csrf, "member_id": team.priya, "availability": "offline"},
        headers=origin(client),
        allow_redirects=False,
    )
    assert done.status == 302
    assert await _availability(db, team.priya) == "offline"
    async with db.session() as session:
        entry = await session.scalar(
            select(AuditEntry).where(
                AuditEntry.workspace_id == team.tenant.workspace_id,
                AuditEntry.action == "member.availability",
            )
        )
        assert entry is not None and entry.target == team.priya
        assert entry.actor == f"member:{team.priya}"


async def test_owner_actions_need_csrf_and_stay_in_the_workspace(
    make_client: Any, db: Database
) -> None:
    team = await seed_team(db, utcnow())
    stranger = await make_tenant(db, plan="enterprise")
    client = await make_client()
    csrf = await sign_in(client, db, team.tenant.member_id)
    no_token = await client.post(
        "/console/management/availability",
        data={"member_id": team.maria, "availability": "offline"},
        headers=origin(client),
        allow_redirects=False,
    )
    assert no_token.status == 403
    foreign = await client.post(
        "/console/management/availability",
        data={"csrf_token": csrf, "member_id": stranger.member_id, "availability": "offline"},
        headers=origin(client),
        allow_redirects=False,
    )
    assert foreign.status == 400
    assert await _availability(db, stranger.member_id) == "available"
    async with db.session() as session:
        outsider = await make_member(session, stranger.workspace_id, role="support")
    wrong_member = await client.post(
        "/console/management/assign",
        data={"csrf_token": csrf, "ref": team.unassigned_refs[0], "assignee": outsider.id},
        headers=origin(client),
        allow_redirects=False,
    )
    assert wrong_member.status == 400
    async with db.session() as session:
        number = int(team.unassigned_refs[0].removeprefix("A-"))
        assist = await session.scalar(
            select(Assist).where(
                Assist.workspace_id == team.tenant.workspace_id, Assist.number == number
            )
        )
        assert assist is not None and assist.assignee_id is None


async def test_management_is_enterprise_only(make_client: Any, db: Database) -> None:
    tenant = await make_tenant(db, plan="pro")
    client = await make_client()
    await sign_in(client, db, tenant.member_id)
    response = await client.get("/console/management")
    assert response.status == 403
    assert "Management comes with the Enterprise plan" in await response.text()


async def test_the_schedule_editor_sets_a_members_week(make_client: Any, db: Database) -> None:
    team = await seed_team(db, utcnow())
    client = await make_client()
    csrf = await sign_in(client, db, team.tenant.member_id)  # the owner
    weekdays = {
        f"{d}_{end}": t
        for d in ("mon", "tue", "wed", "thu", "fri")
        for end, t in (("from", "09:00"), ("to", "17:00"))
    }
    url = "/console/management/schedule"
    saved = await client.post(
        url,
        data={"csrf_token": csrf, "member_id": team.maria, **weekdays},
        headers=origin(client),
    )
    assert saved.status == 200
    body = await saved.text()
    assert "Maria Lopez&#39;s work schedule is saved." in body
    async with db.session() as session:
        maria = await session.get(Member, team.maria)
        assert maria is not None
        assert maria.work_schedule == {
            "tz": None,
            "days": {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
        }
        audited = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "member.work_schedule")
        )
        assert audited is not None and audited.target == team.maria

    # Half a day given: refused, the week stays as it was.
    half = await client.post(
        url,
        data={"csrf_token": csrf, "member_id": team.maria, "sat_from": "10:00"},
        headers=origin(client),
    )
    assert half.status == 400 and "Saturday" in await half.text()
    backwards = await client.post(
        url,
        data={"csrf_token": csrf, "member_id": team.maria, "mon_from": "18:00", "mon_to": "09:00"},
        headers=origin(client),
    )
    assert backwards.status == 400 and "Nothing was changed" in await backwards.text()
    async with db.session() as session:
        maria = await session.get(Member, team.maria)
        assert maria is not None and len(maria.work_schedule["days"]) == 5

    # An empty week removes the schedule; a manager may not edit someone else's.
    cleared = await client.post(
        url, data={"csrf_token": csrf, "member_id": team.maria}, headers=origin(client)
    )
    assert cleared.status == 200
    async with db.session() as session:
        maria = await session.get(Member, team.maria)
        assert maria is not None and maria.work_schedule is None
    manager = await make_client()
    manager_csrf = await sign_in(manager, db, team.priya)
    refused = await manager.post(
        url,
        data={"csrf_token": manager_csrf, "member_id": team.maria, **weekdays},
        headers=origin(manager),
        allow_redirects=False,
    )
    assert refused.status == 403
