"""A team with a known load for the Management view's tests: who holds what, what was closed
and rated when, and what waits unassigned. The tests count the expected figures from the
rows themselves (SQL), not from this description."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from storage.db import Database
from storage.domain import Assist, Conversation
from storage.types import new_id
from tests.factories import Tenant, make_member, make_tenant


@dataclass
class Team:
    tenant: Tenant
    maria: str
    priya: str
    sam: str
    unassigned_refs: list[str] = field(default_factory=list)


async def seed_team(db: Database, now: datetime) -> Team:
    tenant = await make_tenant(db, plan="enterprise", name="Olivia Owner")
    async with db.session() as session:
        maria = await make_member(session, tenant.workspace_id, name="Maria Lopez", role="support")
        priya = await make_member(session, tenant.workspace_id, name="Priya Shah", role="manager")
        sam = await make_member(session, tenant.workspace_id, name="Sam Stone", role="support")
        team = Team(tenant, maria.id, priya.id, sam.id)
        number = 100

        def add(
            who: str | None,
            status: str,
            age: timedelta,
            closed_after: timedelta | None = None,
            csat: int | None = None,
        ) -> Assist:
            nonlocal number
            number += 1
            made = now - age
            conversation = Conversation(
                id=new_id(), workspace_id=tenant.workspace_id, csat=csat, started_at=made
            )
            session.add(conversation)
            x = Assist(
                workspace_id=tenant.workspace_id,
                number=number,
                status=status,
                subject=f"Question {number} <b>from a customer</b>",
                summary="A customer asks.",
                assignee_id=who,
                conversation_id=conversation.id,
                created_at=made,
                updated_at=made,
                closed_at=made + closed_after if closed_after is not None else None,
                snoozed_until=now + timedelta(days=1) if status == "snoozed" else None,
            )
            session.add(x)
            return x

        hour, day = timedelta(hours=1), timedelta(days=1)
        for k in range(6):
            add(maria.id, "open" if k % 2 else "pending", (k + 1) * 5 * hour)
        add(maria.id, "open", 3 * day)
        add(maria.id, "snoozed", 2 * day)  # not open: it left the list until it wakes
        add(maria.id, "closed", 5 * day, closed_after=2 * hour, csat=5)
        add(maria.id, "closed", 9 * day, closed_after=6 * hour, csat=4)
        add(maria.id, "closed", 12 * day, closed_after=10 * hour)  # not rated
        add(maria.id, "closed", 45 * day, closed_after=day, csat=1)  # before the window
        add(priya.id, "open", 8 * hour)
        add(priya.id, "closed", 3 * day, closed_after=30 * timedelta(minutes=1), csat=2)
        for age in (4 * hour, 2 * day + 3 * hour, 6 * day):
            x = add(None, "open", age)
            team.unassigned_refs.append(x.ref)
        add(None, "closed", 4 * day, closed_after=day)
    return team
