"""A member's weekly work schedule: its stored shape, validation, and the instants it starts
and stops working, on the local wall clock (so DST-correct).

Shape (stored in `members.work_schedule`; None means no schedule):

    {"tz": "Europe/Berlin" | None, "days": {"mon": [["09:00", "17:00"]], "tue": [...], ...}}

`tz` None means the member's time zone, else the workspace's. Each day holds intervals
[start, end) in "HH:MM" (end may be "24:00"); a night shift is split at midnight
("mon": [["22:00", "24:00"]], "tue": [["00:00", "06:00"]]) and the two halves join up.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")
_HORIZON = 8  # days ahead a boundary is looked for (a week always has one unless constant)


class ScheduleError(ValueError):
    """A work schedule that cannot be used; the message is safe to show."""


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def validate(value: Any) -> dict[str, Any] | None:
    """The schedule in its stored shape (days sorted, intervals sorted), or None for None.

    Raises ScheduleError on an unknown day, a badly written time, an interval that ends before
    it starts, overlapping intervals or an unknown time zone."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ScheduleError("A work schedule is a set of days with working hours.")
    tz = value.get("tz")
    if tz is not None:
        if not isinstance(tz, str):
            raise ScheduleError("The schedule's time zone must be a name like Europe/Berlin.")
        zone(tz)
    days = value.get("days", {})
    if not isinstance(days, dict):
        raise ScheduleError("A work schedule's days must map a day to its hours.")
    clean: dict[str, list[list[str]]] = {}
    for day, intervals in days.items():
        if day not in DAYS:
            raise ScheduleError(f"Unknown day {str(day)[:10]!r}: use mon, tue, … sun.")
        if not isinstance(intervals, list):
            raise ScheduleError(f"{day}: hours are a list of [start, end] pairs.")
        pairs: list[tuple[int, int, list[str]]] = []
        for interval in intervals:
            if (
                not isinstance(interval, list | tuple)
                or len(interval) != 2
                or not all(isinstance(c, str) and _CLOCK.match(c) for c in interval)
            ):
                raise ScheduleError(f'{day}: write hours as ["09:00", "17:00"].')
            start, end = (_minutes(c) for c in interval)
            if interval[0] == "24:00" or start >= end:
                raise ScheduleError(f"{day}: {interval[0]} to {interval[1]} ends before it starts.")
            pairs.append((start, end, [interval[0], interval[1]]))
        pairs.sort()
        for (_, end, _a), (start, _, b) in pairwise(pairs):
            if start < end:
                raise ScheduleError(f"{day}: hours overlap at {b[0]}.")
        if pairs:
            clean[day] = [p[2] for p in pairs]
    return {"tz": tz, "days": {d: clean[d] for d in DAYS if d in clean}}


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(f"Unknown time zone {name[:64]!r}.") from exc


def _zone_of(schedule: dict[str, Any], tz: str) -> ZoneInfo:
    try:
        return zone(schedule.get("tz") or tz)
    except ScheduleError:
        return ZoneInfo("UTC")


def is_working(schedule: dict[str, Any], tz: str, now: datetime) -> bool:
    """Whether NOW falls in the schedule's hours, read on the wall clock of its zone (TZ when
    the schedule names none)."""
    local = now.astimezone(_zone_of(schedule, tz))
    minute = local.hour * 60 + local.minute
    for start, end in schedule.get("days", {}).get(DAYS[local.weekday()], []):
        if _minutes(start) <= minute < _minutes(end):
            return True
    return False


def _instant(day: date, minutes: int, where: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock time on DAY ("24:00" is the next midnight; a time
    skipped by a DST change lands as far past the gap as it was into it)."""
    wall = datetime.combine(day, time(0)) + timedelta(minutes=minutes)
    return wall.replace(tzinfo=where).astimezone(UTC)


def next_boundary(schedule: dict[str, Any], tz: str, now: datetime) -> datetime | None:
    """The next instant after NOW at which the schedule starts or stops working (UTC), or None
    when it never changes (no hours at all, or every hour of the week)."""
    where = _zone_of(schedule, tz)
    today = now.astimezone(where).date()
    candidates: set[datetime] = set()
    for offset in range(_HORIZON + 1):
        day = today + timedelta(days=offset)
        for start, end in schedule.get("days", {}).get(DAYS[day.weekday()], []):
            candidates.add(_instant(day, _minutes(start), where))
            candidates.add(_instant(day, _minutes(end), where))
    working = is_working(schedule, tz, now)
    for candidate in sorted(candidates):
        if candidate > now and is_working(schedule, tz, candidate) != working:
            return candidate
    return None


def describe(schedule: dict[str, Any] | None) -> str:
    """The schedule in a few words: "Mon-Fri 09:00-17:00", "no working hours", "none"."""
    if schedule is None:
        return "none"
    days = schedule.get("days", {})
    if not days:
        return "no working hours"
    groups: list[tuple[list[str], str]] = []
    for day in DAYS:
        if day not in days:
            continue
        hours = ", ".join(f"{start}-{end}" for start, end in days[day])
        follows = bool(groups) and DAYS.index(groups[-1][0][-1]) + 1 == DAYS.index(day)
        if follows and groups[-1][1] == hours:
            groups[-1][0].append(day)
        else:
            groups.append(([day], hours))
    text = "; ".join(
        f"{g[0].capitalize()}{'-' + g[-1].capitalize() if len(g) > 1 else ''} {hours}"
        for g, hours in groups
    )
    return f"{text} ({schedule['tz']})" if schedule.get("tz") else text
