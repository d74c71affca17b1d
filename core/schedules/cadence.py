"""How often a briefing runs, in words and as a first due time: the rules schedules follow."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from core.schedules.timing import WEEK, Timing, next_fire, zone
from storage.domain import Schedule

_DEFAULT_FREQUENCY = {
    "daily_inbox_summary": "daily",
    "weekly_performance_digest": "weekly",
    "weekly_knowledge_gaps": "weekly",
    "monthly_roi": "monthly",
}


@dataclass(frozen=True)
class Cadence:
    frequency: str
    days: list[str]
    day_of_month: int | None


def plan_timing(
    briefing_type: str,
    frequency: str | None,
    days: Sequence[str] | None,
    current: list[str],
    day_of_month: int | None = None,
    current_day: int | None = None,
) -> Cadence | str:
    """The cadence from what was asked, or a message saying what does not fit."""
    if day_of_month is not None and frequency not in (None, "monthly"):
        return f"A day of the month goes with monthly briefings, not {frequency} ones."
    if frequency == "weekdays":  # "on weekdays" may come with the five days spelled out
        return Cadence("weekdays", list(WEEK[:5]), None)
    if days:
        if frequency not in (None, "weekly"):
            return f"Days go with weekly briefings, not {frequency} ones."
        return Cadence("weekly", sorted(set(days), key=WEEK.index), None)
    chosen = "monthly" if day_of_month is not None else frequency
    chosen = chosen or _DEFAULT_FREQUENCY.get(briefing_type, "weekly")
    if chosen == "weekly":
        kept = current if current and current != list(WEEK[:5]) else ["monday"]
        return Cadence(chosen, kept, None)
    if chosen == "monthly":
        return Cadence(chosen, [], day_of_month or current_day or 1)
    return Cadence(chosen, [], None)


def _ordinal(day: int) -> str:
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def cadence_text(cadence: Cadence, at: str) -> str:
    """ "every day at 08:00", "every Monday, Thursday at 09:00", "on the 15th of each month"."""
    if cadence.frequency == "monthly":
        day = cadence.day_of_month or 1
        when = f"on the {_ordinal(day)} of each month" + (
            " (or the month's last day)" if day > 28 else ""
        )
    else:
        when = {"daily": "every day", "weekdays": "on weekdays"}.get(
            cadence.frequency
        ) or "every " + ", ".join(d.capitalize() for d in cadence.days)
    return f"{when} at {at}"


def describe(label: str, cadence: Cadence, at: str, channel: str) -> str:
    return f"{label} {cadence_text(cadence, at)} on {channel}"


def label_of(schedule: Schedule) -> str:
    return str((schedule.params or {}).get("label") or schedule.briefing_type.replace("_", " "))


def schedule_text(schedule: Schedule) -> str:
    cadence = Cadence(schedule.frequency, list(schedule.days), schedule.day_of_month)
    return describe(label_of(schedule), cadence, schedule.time, schedule.channel or "?")


def first_run(now: datetime, at: str, tz: str, cadence: Cadence) -> datetime:
    """When a briefing with this timing is first due after NOW, in its time zone."""
    timing = Timing(cadence.frequency, at, tz, tuple(cadence.days), cadence.day_of_month)
    first = next_fire(timing, now)
    assert first is not None, "a recurring timing always has a next time"
    return first.astimezone(zone(tz))
