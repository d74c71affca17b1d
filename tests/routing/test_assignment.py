"""Routing on Enterprise: new assists go to the available member with the fewest open assists
(ties: who waited longest), within their cap; nobody available leaves them unassigned until
someone comes online; other plans leave them for the team. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from core.assists.records import create_assist
from core.routing.assignment import DEFAULT_CAP
from core.routing.availability import (
    AvailabilityError,
    apply_schedules,
    effective_availability,
    set_availability,
)
from storage.db import Database
from storage.domain import Assist
from storage.models import AuditEntry, Member
from tests.factories import make_member, make_workspace

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday


async def _team(db: Database, plan: str = "enterprise", **caps: int) -> tuple[str, dict[str, str]]:
    async with db.session() as session:
        ws = await make_workspace(session, plan=plan)
        ids = {}
        for name, role in (("Olivia", "owner"), ("Sam", "support"), ("Mia", "manager")):
            member = await make_member(session, ws.id, name=name, role=role)
            member.assist_cap = caps.get(name)
            ids[name] = member.id
    return ws.id, ids


async def _arrive(db: Database, ws: str, n: int = 1, *, at: datetime = NOW) -> list[str | None]:
    """N new assists, one transaction each, a minute apart; their assignees."""
    assignees = []
    for i in range(n):
        async with db.session() as session:
            assist = await create_assist(
                session, workspace_id=ws, subject=f"Help {i}", summary="", now=at
            )
            assignees.append(assist.assignee_id)
        at += timedelta(minutes=1)
    return assignees


async def _loads(db: Database, ws: str) -> dict[str | None, int]:
    async with db.session() as session:
        rows = await session.execute(
            select(Assist.assignee_id, func.count())
            .where(Assist.workspace_id == ws, Assist.status != "closed")
            .group_by(Assist.assignee_id)
        )
        return {assignee: count for assignee, count in rows}


async def test_arrivals_are_spread_by_load_then_by_who_waited_longest(db: Database) -> None:
    ws, ids = await _team(db)
    first = await _arrive(db, ws, 3)
    # Everyone starts at zero: each gets one, so nobody gets a second before the others.
    assert sorted(first, key=str) == sorted(ids.values())
    # Sam closes theirs: the next arrival goes to Sam (fewest open), the one after to whoever
    # was assigned longest ago among the others.
    async with db.session() as session:
        sams = await session.scalar(select(Assist).where(Assist.assignee_id == ids["Sam"]))
        assert sams is not None
        sams.status = "closed"
    second = await _arrive(db, ws, 2, at=NOW + timedelta(hours=1))
    assert second[0] == ids["Sam"]
    assert second[1] == first[0] if first[0] != ids["Sam"] else first[1]


async def test_offline_members_get_nothing_and_coming_online_hands_out(db: Database) -> None:
    ws, ids = await _team(db)
    async with db.session() as session:
        for name in ("Olivia", "Mia"):
            await set_availability(session, ws, ids[name], "offline", actor=ids[name], now=NOW)
    assert await _arrive(db, ws, 2) == [ids["Sam"], ids["Sam"]]
    async with db.session() as session:
        await set_availability(session, ws, ids["Sam"], "offline", actor="api", now=NOW)
    # Nobody is available: the new one waits unassigned.
    assert await _arrive(db, ws, 2, at=NOW + timedelta(minutes=5)) == [None, None]
    # Mia comes online and is handed both at once.
    async with db.session() as session:
        member = await set_availability(
            session, ws, ids["Mia"], "available", actor=ids["Olivia"], now=NOW + timedelta(hours=1)
        )
        assert member.availability == "available"
    assert await _loads(db, ws) == {ids["Sam"]: 2, ids["Mia"]: 2}
    async with db.session() as session:
        audited = list(
            await session.scalars(
                select(AuditEntry.target).where(
                    AuditEntry.workspace_id == ws, AuditEntry.action == "member.availability"
                )
            )
        )
    assert sorted(audited) == sorted([ids["Olivia"], ids["Mia"], ids["Sam"], ids["Mia"]])


async def test_nobody_goes_past_their_cap(db: Database) -> None:
    ws, ids = await _team(db, Olivia=1, Sam=2, Mia=0)
    assignees = await _arrive(db, ws, 5)
    assert assignees.count(ids["Olivia"]) == 1
    assert assignees.count(ids["Sam"]) == 2
    assert assignees.count(ids["Mia"]) == 0
    assert assignees.count(None) == 2


async def test_other_plans_leave_assists_for_the_team(db: Database) -> None:
    ws, _ = await _team(db, plan="pro")
    assert await _arrive(db, ws, 2) == [None, None]


async def test_bad_availability_is_refused_with_a_reason(db: Database) -> None:
    ws, ids = await _team(db)
    async with db.session() as session:
        with pytest.raises(AvailabilityError, match="available or offline"):
            await set_availability(session, ws, ids["Sam"], "away", actor="api", now=NOW)  # type: ignore[arg-type]
        with pytest.raises(AvailabilityError, match="No such member"):
            await set_availability(session, ws, "nobody", "offline", actor="api", now=NOW)


async def test_the_schedule_sets_availability_and_a_manual_change_holds_until_its_boundary(
    db: Database,
) -> None:
    ws, ids = await _team(db)
    weekdays = {"tz": None, "days": {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed")}}
    async with db.session() as session:
        for name in ("Olivia", "Mia"):
            await set_availability(session, ws, ids[name], "offline", actor="api", now=NOW)
        sam = await session.get(Member, ids["Sam"])
        assert sam is not None
        sam.work_schedule = weekdays
        sam.timezone = "Europe/Berlin"  # 09:00-17:00 Berlin is 08:00-16:00 UTC in November
    evening = NOW.replace(hour=16, minute=30)
    async with db.session() as session:
        assert await apply_schedules(session, evening) == 1
    assert await _arrive(db, ws, 1, at=evening) == [None]
    # Sam turns themself on for the evening; it holds until tomorrow's 09:00 Berlin.
    async with db.session() as session:
        sam = await set_availability(session, ws, ids["Sam"], "available", actor="x", now=evening)
        assert sam.availability_until == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    assert await _loads(db, ws) == {ids["Sam"]: 1}  # handed out at once
    async with db.session() as session:
        assert await apply_schedules(session, evening + timedelta(hours=1)) == 0
        sam = await session.get(Member, ids["Sam"])
        assert sam is not None
        assert effective_availability(sam, NOW.replace(hour=23)) == "available"
        # Past the boundary the schedule decides again: Thursday has no hours.
        thursday = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
        assert effective_availability(sam, thursday) == "offline"
        assert await apply_schedules(session, thursday) == 1
        assert (sam.availability, sam.availability_until) == ("offline", None)


async def test_the_default_cap_is_the_documented_one() -> None:
    assert DEFAULT_CAP == 10
