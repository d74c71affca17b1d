"""Chat's view of the team's load: "what's Maria's workload" and "how is the queue"."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from core.assists.csat import Links
from core.team.identity import Principal
from core.tools.catalogue import default_registry
from core.tools.registry import ToolContext
from models.task import Route, Sender, Task
from storage.db import Database
from storage.domain import Assist
from storage.models import Member
from storage.types import new_id, utcnow
from tests.management_team import Team, seed_team


async def _run(db: Database, team: Team, tool: str, args: dict[str, Any], now: Any) -> Any:
    registry = default_registry()
    spec = registry.get(tool)
    assert spec is not None
    t = team.tenant
    principal = Principal(t.workspace_id, "Acme", "enterprise", "UTC", t.member_id, "O", "owner")
    task = Task(
        id=new_id(),
        workspace_id=t.workspace_id,
        channel="web",
        external_id=new_id(),
        sender=Sender(channel="web", address=t.member_id),
        conversation="c",
        text="",
        received_at=now,
        reply_route=Route(channel="web", address=t.member_id),
    )
    links = Links(base_url="https://sb.example")
    async with db.session() as session:
        ctx = ToolContext(session, principal, task, now, registry, links=links)
        return await spec.handler(ctx, spec.args.model_validate(args))


async def test_a_members_workload_gives_open_resolution_csat_and_availability(
    db: Database,
) -> None:
    now = utcnow()
    team = await seed_team(db, now)
    async with db.session() as session:
        member = await session.get(Member, team.maria)
        assert member is not None
        member.availability = "offline"
    (card,) = await _run(db, team, "get_agent_workload", {"member": "Maria"}, now)
    fields = {f.label: f.value for f in card.fields}
    # Seeded: 7 open or pending (one snoozed does not count), closed in 30 days after 2, 6
    # and 10 hours, rated 5 and 4.
    assert fields["Open assists"].startswith("7 (")
    assert fields["Resolution, last 30 days"] == "6.0 h on average over 3 closed"
    assert fields["CSAT, last 30 days"] == "4.5/5 from 2 rating(s)"
    assert fields["Availability"] == "offline"
    assert fields["High load"].startswith("yes")
    (sam,) = await _run(db, team, "get_agent_workload", {"member": "sam"}, now)
    sam_fields = {f.label: f.value for f in sam.fields}
    assert sam_fields["Resolution, last 30 days"] == "nothing closed"
    assert sam_fields["CSAT, last 30 days"] == "no ratings"


async def test_queue_health_names_the_oldest_unassigned(db: Database) -> None:
    now = utcnow()
    team = await seed_team(db, now)
    (card,) = await _run(db, team, "get_queue_health", {}, now)
    fields = {f.label: f.value for f in card.fields}
    assert fields["Unassigned open assists"] == "3"
    assert fields["Oldest unassigned waiting"] == "6 days"
    assert len(fields["Backlog, last 7 days (not closed, daily)"].split(" → ")) == 7
    # Oldest first: the 6-day-old one, then the one of 2 days, then the newest.
    listed = [line for line in card.text.splitlines() if line.startswith("- A-")]
    assert [line.split()[1] for line in listed] == list(reversed(team.unassigned_refs))
    assert "https://sb.example/console/management" in card.text


async def test_an_empty_queue_says_so(db: Database) -> None:
    now = utcnow()
    team = await seed_team(db, now)
    async with db.session() as session:
        await session.execute(
            update(Assist)
            .where(Assist.workspace_id == team.tenant.workspace_id, Assist.assignee_id.is_(None))
            .values(assignee_id=team.sam)
        )
    (card,) = await _run(db, team, "get_queue_health", {}, now)
    fields = {f.label: f.value for f in card.fields}
    assert fields["Unassigned open assists"] == "0"
    assert fields["Oldest unassigned waiting"] == "—"
    assert "Nothing waits unassigned." in card.text
