"""One moment ahead, as people name it ("tomorrow 09:00", "monday 09:00", "in 2 hours", an ISO
8601 time), resolved in a member's time zone with the schedules' triggers (so a daylight-saving
change lands on the right wall time). The console's snooze choices and the `snooze_assist` tool
read the same forms; the offline classifier writes them."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from core.schedules.timing import WEEK, Timing, next_fire, zone

DEFAULT_TIME = "09:00"
_UNITS = {"minute": 1, "hour": 60, "day": 24 * 60, "week": 7 * 24 * 60}
_IN = re.compile(r"^(?:in |for )?(\d{1,4}) (minute|hour|day|week)s?$")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")
_DAY = re.compile(r"^(today|tomorrow|" + "|".join(WEEK) + r")(?: (\d{1,2}):(\d{2}))?$")


def resolve(text: str, now: datetime, tz: str) -> datetime:
    """The aware UTC moment TEXT names after NOW, in time zone TZ.

    Forms: "[in|for] N minutes|hours|days|weeks"; "HH:MM" (its next time);
    "today|tomorrow|<weekday> [HH:MM]" (the time defaults to 09:00; a weekday is its next one
    after today, a week on when it is today); an ISO 8601 time (without an offset: local to TZ).

    Raises:
        ValueError: none of these forms."""
    said = " ".join(text.strip().lower().split())
    found = _IN.match(said)
    if found:
        return now + timedelta(minutes=int(found.group(1)) * _UNITS[found.group(2)])
    found = _CLOCK.match(said)
    if found:  # a time of day: its next one (today's, else tomorrow's)
        said = f"today {said}"
        if _on("today", f"{int(found.group(1)):02d}:{found.group(2)}", now, tz) <= now:
            said = f"tomorrow {found.group(1)}:{found.group(2)}"
    found = _DAY.match(said)
    if found:
        day, hour, minute = found.groups()
        at = f"{int(hour):02d}:{minute}" if hour is not None else DEFAULT_TIME
        if not (int(at[:2]) < 24 and int(at[3:]) < 60):
            raise ValueError(f"{at} is not a time of day")
        return _on(day, at, now, tz)
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time I can read (try 'tomorrow 09:00', 'monday 09:00', "
            "'in 2 hours' or 2026-12-07T09:00)"
        ) from None
    return when.replace(tzinfo=zone(tz)) if when.tzinfo is None else when


def _on(day: str, at: str, now: datetime, tz: str) -> datetime:
    local_now = now.astimezone(zone(tz))
    midnight = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
    if day in ("today", "tomorrow"):
        start = midnight + timedelta(days=0 if day == "today" else 1)
        fire = next_fire(Timing("daily", at, tz), start - timedelta(seconds=1))
    else:  # the next such weekday after today
        fire = next_fire(Timing("weekly", at, tz, (day,)), midnight + timedelta(days=1, seconds=-1))
    assert fire is not None, "a recurring timing always has a next time"
    return fire
