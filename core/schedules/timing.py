"""When a schedule fires: APScheduler cron triggers in the schedule's own time zone.

A trigger works on local wall-clock time in the schedule's zone, so "08:00 in New York" stays
08:00 local across a daylight-saving change (12:00 UTC in summer, 13:00 UTC in winter). Two
corner cases of the change itself are settled here: a time that does not exist (02:30 on the
spring-forward night) fires an hour later, once; a time that happens twice (01:30 on the
fall-back night) fires at its first occurrence only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger

WEEK = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# Months shorter than a day of the month: where "the 31st" means the month's last day.
_SHORT_MONTHS = {29: "2", 30: "2", 31: "2,4,6,9,11"}
_SECOND = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class Timing:
    """What decides a schedule's fire times; hashable, so equal timings share one trigger."""

    frequency: str  # daily | weekdays | weekly | monthly | once
    time: str  # HH:MM, local
    timezone: str
    days: tuple[str, ...] = ()  # weekly
    day_of_month: int | None = None  # monthly (default the 1st)
    one_off_at: datetime | None = None  # once

    @classmethod
    def of(cls, schedule: Any) -> Timing:
        """The timing of a `Schedule` row (or anything with its columns)."""
        if schedule.one_off_at is not None:
            return cls("once", schedule.time, schedule.timezone, one_off_at=schedule.one_off_at)
        days = tuple(str(d).lower() for d in schedule.days or () if str(d).lower() in WEEK)
        return cls(
            schedule.frequency,
            schedule.time,
            schedule.timezone,
            days,
            schedule.day_of_month if schedule.frequency == "monthly" else None,
        )


def zone(name: str) -> ZoneInfo:
    """The time zone NAME, UTC when it is unknown (a bad stored value must not stop the rest)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@lru_cache(maxsize=16384)
def trigger(timing: Timing) -> BaseTrigger:
    """The APScheduler trigger for a recurring TIMING (raises ValueError for `once`)."""
    if timing.frequency == "once":
        raise ValueError("a one-off schedule has no recurring trigger")
    tz = zone(timing.timezone)
    hour, minute = (int(part) for part in timing.time.split(":"))
    at = {"hour": hour, "minute": minute, "second": 0, "timezone": tz}
    if timing.frequency == "weekdays":
        return CronTrigger(day_of_week="mon-fri", **at)
    if timing.frequency == "weekly":
        days = sorted(set(timing.days) or {"monday"}, key=WEEK.index)
        return CronTrigger(day_of_week=",".join(d[:3] for d in days), **at)
    if timing.frequency == "monthly":
        day = min(max(timing.day_of_month or 1, 1), 31)
        if day <= 28:
            return CronTrigger(day=day, **at)
        # "Every 31st" still goes out in April: on its last day. In a leap year both triggers
        # name 29 February, and OrTrigger fires that instant once.
        return OrTrigger(
            [CronTrigger(day=day, **at), CronTrigger(month=_SHORT_MONTHS[day], day="last", **at)]
        )
    return CronTrigger(**at)  # daily, and anything unknown


def next_fire(timing: Timing, after: datetime) -> datetime | None:
    """The first fire time strictly after AFTER, in UTC; None when there is none (a one-off
    that is past)."""
    if timing.frequency == "once":
        at = timing.one_off_at
        return at.astimezone(UTC) if at is not None and at > after else None
    cron = trigger(timing)
    # Arithmetic and comparisons in UTC: on local times Python ignores `fold`, so the
    # fall-back hour would compare equal to the hour before it.
    after = after.astimezone(UTC)
    probe = after
    while True:
        found: datetime | None = cron.get_next_fire_time(None, probe)
        if found is None:
            return None
        candidate = found.astimezone(UTC)
        if candidate > after and not _repeated_wall_time(found):
            return candidate
        # The trigger is inclusive of PROBE (rounded up to whole seconds): step past it.
        probe = max(probe, candidate) + _SECOND


def _repeated_wall_time(when: datetime) -> bool:
    """Whether WHEN is the second occurrence of its local time (the fall-back hour)."""
    first = when.replace(tzinfo=None).replace(tzinfo=when.tzinfo, fold=0)
    return first.astimezone(UTC) < when.astimezone(UTC)


def plan(
    timing: Timing, *, since: datetime, now: datetime, grace: timedelta
) -> tuple[datetime | None, datetime | None]:
    """(a fire time to send now, the next fire time after NOW) for a schedule last sent (or
    created) at SINCE.

    Fire times missed between SINCE and NOW are coalesced: only the latest one is sent, and only
    if it is at most GRACE old, so a gateway that was down sends a missed briefing once on start,
    never a backlog of them."""
    missed: datetime | None = None
    current = next_fire(timing, max(since, now - grace - _SECOND))
    while current is not None and current <= now:
        if now - current <= grace:
            missed = current
        current = next_fire(timing, current)
    return missed, current
