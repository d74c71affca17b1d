"""The Management view's figures against the rows counted independently, in SQL, here."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from core.reports.management import arrivals_by_hour, high_load, management_figures
from storage.db import Database
from storage.types import utcnow
from tests.api import ClientFactory, start_gateway
from tests.management_team import seed_team


async def _one(db: Database, sql: str, **params: Any) -> Any:
    async with db.session() as session:
        return (await session.execute(text(sql), params)).scalar()


async def _expected(db: Database, ws: str, member: str, now: datetime) -> dict[str, Any]:
    since = now - timedelta(days=30)
    open_count = await _one(
        db,
        "SELECT count(*) FROM assists WHERE workspace_id = :ws AND assignee_id = :m "
        "AND status IN ('open', 'pending')",
        ws=ws,
        m=member,
    )
    async with db.session() as session:
        closed = list(
            await session.execute(
                text(
                    "SELECT a.created_at, a.closed_at, c.csat FROM assists a "
                    "LEFT JOIN conversations c ON c.id = a.conversation_id "
                    "WHERE a.workspace_id = :ws AND a.assignee_id = :m AND a.status = 'closed'"
                ),
                {"ws": ws, "m": member},
            )
        )

    def moment(value: Any) -> datetime:
        value = datetime.fromisoformat(value) if isinstance(value, str) else value
        return value if value.tzinfo else value.replace(tzinfo=now.tzinfo)

    recent = [(moment(a), moment(b), c) for a, b, c in closed if moment(b) > since]
    spans = [(b - a).total_seconds() for a, b, _ in recent]
    rated = [c for _, _, c in recent if c is not None]
    return {
        "open_assists": open_count,
        "avg_resolution_seconds": sum(spans) / len(spans) if spans else None,
        "csat": sum(rated) / len(rated) if rated else None,
    }


async def test_member_figures_match_the_rows(db: Database) -> None:
    now = utcnow()
    team = await seed_team(db, now)
    ws = team.tenant.workspace_id
    async with db.session() as session:
        figures = await management_figures(session, ws, now)
    by_id = {m.member_id: m for m in figures.members}
    assert set(by_id) == {team.tenant.member_id, team.maria, team.priya, team.sam}
    for member in by_id:
        want = await _expected(db, ws, member, now)
        got = by_id[member]
        assert got.open_assists == want["open_assists"]
        assert got.avg_resolution_seconds == pytest.approx(want["avg_resolution_seconds"])
        assert got.csat == pytest.approx(want["csat"])
    maria = by_id[team.maria]
    # The seeded shape, as a person reads it: 7 open (the snoozed one not), three closures in
    # the window (2 h, 6 h, 10 h: 6 h on average), two ratings (5 and 4).
    assert (maria.open_assists, maria.avg_resolution_seconds, maria.csat) == (7, 6 * 3600, 4.5)
    assert by_id[team.sam].avg_resolution_seconds is None and by_id[team.sam].csat is None
    # Team average (7 + 1 + 0 + 0) / 4 = 2: Maria's 7 is ≥ 3 and ≥ 5; Priya's 1 is not.
    assert [m.name for m in figures.members if m.high_load] == ["Maria Lopez"]


async def test_queue_figures_match_the_rows(db: Database) -> None:
    now = utcnow()
    team = await seed_team(db, now)
    ws = team.tenant.workspace_id
    async with db.session() as session:
        queue = (await management_figures(session, ws, now)).queue
        rows = list(
            await session.execute(
                text(
                    "SELECT created_at, closed_at, status, assignee_id FROM assists "
                    "WHERE workspace_id = :ws"
                ),
                {"ws": ws},
            )
        )

    def moment(value: Any) -> datetime:
        value = datetime.fromisoformat(value) if isinstance(value, str) else value
        return value if value.tzinfo else value.replace(tzinfo=now.tzinfo)

    waiting = [moment(r[0]) for r in rows if r[3] is None and r[2] in ("open", "pending")]
    assert queue.unassigned == len(waiting) == 3
    assert queue.oldest_unassigned_age_seconds == pytest.approx(
        (now - min(waiting)).total_seconds()
    )
    backlog = []
    for k in (6, 5, 4, 3, 2, 1, 0):
        t = now - timedelta(days=k)
        backlog.append(
            sum(1 for r in rows if moment(r[0]) <= t and (r[1] is None or moment(r[1]) > t))
        )
    assert queue.backlog_7d == backlog
    assert backlog[-1] == 7 + 1 + 1 + 3  # open now, the snoozed one included


async def test_arrivals_fall_in_their_hour_of_the_week(db: Database) -> None:
    now = utcnow()
    team = await seed_team(db, now)
    async with db.session() as session:
        buckets = await arrivals_by_hour(session, team.tenant.workspace_id, now, "UTC")
        maria = await arrivals_by_hour(session, team.tenant.workspace_id, now, "UTC", team.maria)
    assert len(buckets) == 168
    made_30d = await _one(
        db,
        "SELECT count(*) FROM assists WHERE workspace_id = :ws AND created_at > :since",
        ws=team.tenant.workspace_id,
        since=now - timedelta(days=30),
    )
    assert sum(buckets) == made_30d
    assert sum(maria) == 11  # 8 open or snoozed, 3 closed in the window
    newest = now - timedelta(hours=4)
    assert buckets[newest.weekday() * 24 + newest.hour] >= 1


def test_the_high_load_rule() -> None:
    assert high_load(6, 2.0) and high_load(5, 2.0)
    assert not high_load(4, 2.0)  # 2x the average, but only 2 above it
    assert not high_load(12, 10.0)  # 2 above, and not 1.5x


async def test_management_api_answers_the_design_shape(
    make_client: ClientFactory, db: Database
) -> None:
    now = utcnow()
    team = await seed_team(db, now)
    client = await start_gateway(make_client, build={"run_workers": False})
    response = await client.get("/api/v1/management", headers=team.tenant.auth)
    body = await response.json()
    assert response.status == 200, body
    assert set(body) == {"members", "queue"}
    member_keys = {
        "member_id",
        "name",
        "email",
        "availability",
        "open_assists",
        "avg_resolution_seconds",
        "csat",
        "high_load",
    }
    assert all(set(m) == member_keys for m in body["members"])
    maria = next(m for m in body["members"] if m["member_id"] == team.maria)
    assert maria["open_assists"] == 7 and maria["csat"] == 4.5 and maria["high_load"] is True
    assert maria["availability"] == "available"
    assert set(body["queue"]) == {"unassigned", "oldest_unassigned_age_seconds", "backlog_7d"}
    assert body["queue"]["unassigned"] == 3 and len(body["queue"]["backlog_7d"]) == 7
    assert (await client.get("/api/v1/management")).status == 401
