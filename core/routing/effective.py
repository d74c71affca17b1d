"""A member's availability at a given moment, from what is stored and their schedule."""

from __future__ import annotations

from datetime import datetime

from core.routing.schedule import is_working, next_boundary
from storage.models import Member


def effective_availability(member: Member, now: datetime, workspace_tz: str = "UTC") -> str:
    """`available` or `offline` at NOW.

    A manual change holds while `availability_until` is in the future (or forever when the
    schedule never changes); past it the schedule decides; without a schedule the stored value
    stands."""
    schedule = member.work_schedule
    if not schedule:
        return member.availability
    tz = member.timezone or workspace_tz
    if member.availability_until is not None and member.availability_until > now:
        return member.availability
    if member.availability_until is None and next_boundary(schedule, tz, now) is None:
        return member.availability
    return "available" if is_working(schedule, tz, now) else "offline"
