"""Whether a member takes new assists now: their manual choice while it holds, else their
work schedule, else what is stored. Functions take the session and never commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.routing import assignment
from core.routing.effective import effective_availability
from core.routing.schedule import next_boundary, validate
from core.team.directory import audit
from storage.models import Member, Workspace

__all__ = [
    "AvailabilityError",
    "apply_schedules",
    "effective_availability",
    "set_availability",
    "set_work_schedule",
]

Availability = Literal["available", "offline"]
VALUES: tuple[Availability, ...] = ("available", "offline")


class AvailabilityError(ValueError):
    """A change that cannot be made; the message is safe to show."""


async def set_availability(
    session: AsyncSession,
    workspace_id: str,
    member_id: str,
    value: Literal["available", "offline"],
    *,
    actor: str,
    now: datetime,
    base_url: str | None = None,
) -> Member:
    """Set a member's availability by hand until their schedule's next boundary (for good
    without a schedule), audited. The caller checked that ACTOR may. A member who becomes
    available on Enterprise is handed the unassigned open assists at once and told of each
    (console links under BASE_URL, PUBLIC_BASE_URL; paths without it)."""
    if value not in VALUES:
        raise AvailabilityError("Availability is either available or offline.")
    member = await session.get(Member, member_id)
    if member is None or member.workspace_id != workspace_id or member.status != "active":
        raise AvailabilityError("No such member in this workspace.")
    workspace = await session.get(Workspace, workspace_id)
    assert workspace is not None
    until = None
    if member.work_schedule:
        until = next_boundary(member.work_schedule, member.timezone or workspace.timezone, now)
    if member.availability != value:
        member.availability_changed_at = now
    member.availability = value
    member.availability_until = until
    await audit(
        session,
        workspace_id,
        actor,
        "member.availability",
        member.id,
        {"availability": value, "until": until.isoformat() if until else None},
    )
    await session.flush()
    if value == "available":
        await assignment.hand_out(session, workspace_id, now=now, base_url=base_url)
    return member


async def apply_schedules(
    session: AsyncSession, now: datetime, *, base_url: str | None = None
) -> int:
    """Bring every scheduled member's stored availability in line with their schedule (a manual
    change past its end gives way), then hand out unassigned assists in the workspaces where
    someone became available. Returns how many members changed. The scheduler's leader runs
    it once a minute."""
    rows = await session.execute(
        select(Member, Workspace.timezone)
        .join(Workspace, Workspace.id == Member.workspace_id)
        .where(Member.status == "active", Member.work_schedule.is_not(None))
        .order_by(Member.id)
    )
    changed = 0
    woke: set[str] = set()
    for member, workspace_tz in rows:
        expired = member.availability_until is not None and member.availability_until <= now
        value = effective_availability(member, now, workspace_tz)
        if expired:
            member.availability_until = None
        if value != member.availability:
            member.availability = value
            member.availability_changed_at = now
            changed += 1
            if value == "available":
                woke.add(member.workspace_id)
    await session.flush()
    for workspace_id in sorted(woke):
        await assignment.hand_out(session, workspace_id, now=now, base_url=base_url)
    return changed


async def set_work_schedule(
    session: AsyncSession,
    workspace_id: str,
    member_id: str,
    schedule: Any,
    *,
    actor: str,
    now: datetime,
    base_url: str | None = None,
) -> Member:
    """Replace a member's weekly work schedule (None removes it), audited; from now on the
    schedule decides their availability (a manual change no longer holds). Raises
    AvailabilityError (no such member) or ScheduleError (the schedule), having changed nothing."""
    clean = validate(schedule)
    member = await session.get(Member, member_id)
    if member is None or member.workspace_id != workspace_id or member.status != "active":
        raise AvailabilityError("No such member in this workspace.")
    member.work_schedule = clean
    member.availability_until = None
    await audit(
        session, workspace_id, actor, "member.work_schedule", member.id, {"work_schedule": clean}
    )
    await apply_schedules(session, now, base_url=base_url)
    return member
