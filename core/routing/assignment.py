"""Handing assists out on Enterprise: a new or unassigned assist goes to the available member
with AI Inbox access who has the fewest open assists (ties: who has waited longest since their
last assignment), never past their cap. Functions take the session and never commit.

Two nodes never assign one assist twice nor push a member past the cap: every assignment
first locks the workspace's active member rows (`SELECT ... FOR UPDATE`, in id order, so two
assigners queue up rather than deadlock) and then the assist's row, and counts the load under
those locks. SQLite serialises writers on its own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.routing.effective import effective_availability
from core.routing.notices import tell_assignee
from core.team.access import can
from storage.domain import Assist
from storage.models import Member, Workspace

log = logging.getLogger(__name__)

# A member's cap when `members.assist_cap` is not set: open assists they may hold at once.
DEFAULT_CAP = 10
# Assists that count toward a member's load (everything not closed, snoozed ones included:
# they come back to the same person) and those handed out when unassigned.
LOADED = ("open", "pending", "snoozed")
HANDED_OUT = ("open", "pending")
_LONG_AGO = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Candidate:
    member: Member
    load: int
    cap: int
    waiting_since: datetime


def routes(plan: str) -> bool:
    """Whether the plan assigns assists by workload (Enterprise); others notify the team."""
    return plan == "enterprise"


async def _locked_members(session: AsyncSession, workspace_id: str) -> list[Member]:
    query = (
        select(Member)
        .where(Member.workspace_id == workspace_id, Member.status == "active")
        .order_by(Member.id)
        .with_for_update()  # SQLite leaves the clause out
        .execution_options(populate_existing=True)
    )
    return list(await session.scalars(query))


async def hold_team(session: AsyncSession, workspace_id: str) -> None:
    """On Enterprise, take the member locks an assignment needs before opening an assist: new
    assists of the workspace then queue up here, each numbered and assigned after the one
    before has committed (rather than racing for the number and waiting on the locks)."""
    workspace = await session.get(Workspace, workspace_id)
    if workspace is not None and routes(workspace.plan):
        await _locked_members(session, workspace_id)


async def candidates(session: AsyncSession, workspace: Workspace, now: datetime) -> list[Candidate]:
    """The available members with AI Inbox access, best first, locked (on PostgreSQL) until the
    transaction ends; includes members at their cap (callers skip them)."""
    members = [
        m
        for m in await _locked_members(session, workspace.id)
        if can(m.role, workspace.plan, "inbox")
        and effective_availability(m, now, workspace.timezone) == "available"
    ]
    if not members:
        return []
    ids = [m.id for m in members]
    rows = await session.execute(
        select(Assist.assignee_id, func.max(Assist.assigned_at))
        .where(Assist.workspace_id == workspace.id, Assist.assignee_id.in_(ids))
        .group_by(Assist.assignee_id)
    )
    last = {assignee: latest for assignee, latest in rows if assignee}
    loads: dict[str | None, int] = {
        assignee: count
        for assignee, count in await session.execute(
            select(Assist.assignee_id, func.count())
            .where(
                Assist.workspace_id == workspace.id,
                Assist.assignee_id.in_(ids),
                Assist.status.in_(LOADED),
            )
            .group_by(Assist.assignee_id)
        )
    }
    found = [
        Candidate(
            member=m,
            load=int(loads.get(m.id, 0)),
            cap=m.assist_cap if m.assist_cap is not None else DEFAULT_CAP,
            waiting_since=last.get(m.id) or m.availability_changed_at or m.created_at or _LONG_AGO,
        )
        for m in members
    ]
    found.sort(key=lambda c: (c.load, c.waiting_since, c.member.id))
    return found


async def assign(session: AsyncSession, assist_id: str, *, now: datetime) -> Member | None:
    """Give the assist to the best available member under their cap; None when it is already
    assigned, not open, not on Enterprise, or nobody can take it now (it stays unassigned)."""
    assist = await session.get(Assist, assist_id)
    if assist is None:
        return None
    workspace = await session.get(Workspace, assist.workspace_id)
    if workspace is None or not routes(workspace.plan):
        return None
    ranked = await candidates(session, workspace, now)
    # The assist's row, read again under its lock: another node may have assigned it.
    assist = await session.scalar(
        select(Assist)
        .where(Assist.id == assist_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if assist is None or assist.assignee_id is not None or assist.status not in HANDED_OUT:
        return None
    for candidate in ranked:
        if candidate.load < candidate.cap:
            assist.assignee_id = candidate.member.id
            assist.assigned_at = now
            assist.updated_at = now
            await session.flush()
            log.info("assigned %s to member %s", assist.ref, candidate.member.id)
            return candidate.member
    return None


async def unassigned(session: AsyncSession, workspace_id: str) -> list[str]:
    """The workspace's unassigned open assists, urgent first, then oldest first."""
    rows = await session.execute(
        select(Assist.id, Assist.priority)
        .where(
            Assist.workspace_id == workspace_id,
            Assist.assignee_id.is_(None),
            Assist.status.in_(HANDED_OUT),
        )
        .order_by(Assist.created_at, Assist.number)
    )
    order = {"urgent": 0, "high": 1}
    pairs = [(assist_id, priority) for assist_id, priority in rows]
    pairs.sort(key=lambda p: order.get(p[1], 2))  # stable: oldest first within a priority
    return [p[0] for p in pairs]


async def hand_out(
    session: AsyncSession, workspace_id: str, *, now: datetime, base_url: str | None = None
) -> list[tuple[Assist, Member]]:
    """Assign the workspace's unassigned open assists while someone can take them (Enterprise
    only), telling each new assignee (links under BASE_URL, PUBLIC_BASE_URL); returns what was
    assigned to whom."""
    workspace = await session.get(Workspace, workspace_id)
    if workspace is None or not routes(workspace.plan):
        return []
    done: list[tuple[Assist, Member]] = []
    for assist_id in await unassigned(session, workspace_id):
        member = await assign(session, assist_id, now=now)
        if member is None:
            if not any(c.load < c.cap for c in await candidates(session, workspace, now)):
                break
            continue
        assist = await session.get(Assist, assist_id)
        assert assist is not None
        await tell_assignee(session, assist, member, base_url=base_url)
        done.append((assist, member))
    return done
