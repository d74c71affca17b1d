"""Work schedules: their shape, working hours on the local wall clock, and the next change,
across a daylight-saving change."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.routing.schedule import ScheduleError, is_working, next_boundary, validate

WEEKDAYS = {
    "tz": None,
    "days": {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
}


def test_a_schedule_is_stored_in_order_and_bad_ones_are_refused() -> None:
    assert validate({"days": {"tue": [["13:00", "17:00"], ["08:00", "12:00"]], "mon": []}}) == {
        "tz": None,
        "days": {"tue": [["08:00", "12:00"], ["13:00", "17:00"]]},
    }
    assert validate(None) is None
    for bad in (
        {"days": {"funday": [["09:00", "17:00"]]}},
        {"days": {"mon": [["9am", "5pm"]]}},
        {"days": {"mon": [["17:00", "09:00"]]}},
        {"days": {"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}},
        {"tz": "Mars/Olympus", "days": {}},
    ):
        with pytest.raises(ScheduleError):
            validate(bad)


def test_working_hours_are_read_in_the_members_time_zone() -> None:
    # 08:30 UTC on a Monday is 09:30 in Berlin (winter, UTC+1) and 03:30 in New York.
    monday = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)
    assert is_working(WEEKDAYS, "Europe/Berlin", monday)
    assert not is_working(WEEKDAYS, "America/New_York", monday)
    # The schedule's own zone wins over the member's.
    assert is_working({**WEEKDAYS, "tz": "Europe/Berlin"}, "America/New_York", monday)
    saturday = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert not is_working(WEEKDAYS, "UTC", saturday)


def test_the_next_boundary_follows_the_wall_clock_across_daylight_saving() -> None:
    # New York leaves DST on Sunday 1 November 2026: Friday 17:00 is 21:00 UTC (EDT), Monday
    # 09:00 is 14:00 UTC (EST).
    friday_noon = datetime(2026, 10, 30, 16, 0, tzinfo=UTC)
    end = next_boundary(WEEKDAYS, "America/New_York", friday_noon)
    assert end == datetime(2026, 10, 30, 21, 0, tzinfo=UTC)
    assert end is not None
    start = next_boundary(WEEKDAYS, "America/New_York", end)
    assert start == datetime(2026, 11, 2, 14, 0, tzinfo=UTC)


def test_a_night_shift_split_at_midnight_is_one_stretch() -> None:
    nights = {"tz": None, "days": {"mon": [["22:00", "24:00"]], "tue": [["00:00", "06:00"]]}}
    monday_late = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)
    assert is_working(nights, "UTC", monday_late)
    assert next_boundary(nights, "UTC", monday_late) == datetime(2026, 11, 24, 6, 0, tzinfo=UTC)


def test_a_schedule_that_never_changes_has_no_boundary() -> None:
    always = {"tz": None, "days": {d: [["00:00", "24:00"]] for d in WEEKDAYS["days"]}}
    always["days"].update({"sat": [["00:00", "24:00"]], "sun": [["00:00", "24:00"]]})
    assert next_boundary(always, "UTC", datetime(2026, 11, 23, tzinfo=UTC)) is None
    assert (
        next_boundary({"tz": None, "days": {}}, "UTC", datetime(2026, 11, 23, tzinfo=UTC)) is None
    )
