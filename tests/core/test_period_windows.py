"""A period still running is compared with the same stretch of the period before it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.reports import analytics


def _local(window: analytics.Window, tz: str = "UTC") -> tuple[str, str]:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(tz)
    return (
        window.start.astimezone(zone).isoformat(timespec="minutes"),
        window.end.astimezone(zone).isoformat(timespec="minutes"),
    )


@pytest.mark.parametrize(
    ("period", "now", "current", "previous"),
    [
        # Month to date (6 days and 14 hours) against last month's first 6 days and 14 hours.
        (
            "this_month",
            datetime(2026, 12, 7, 14, 0, tzinfo=UTC),
            ("2026-12-01T00:00+00:00", "2026-12-07T14:00+00:00"),
            ("2026-11-01T00:00+00:00", "2026-11-07T14:00+00:00"),
        ),
        # The 31st against a 30-day month: all of the previous month, no more.
        (
            "this_month",
            datetime(2026, 12, 31, 9, 30, tzinfo=UTC),
            ("2026-12-01T00:00+00:00", "2026-12-31T09:30+00:00"),
            ("2026-11-01T00:00+00:00", "2026-11-30T09:30+00:00"),
        ),
        (
            "this_week",
            datetime(2026, 12, 9, 11, 0, tzinfo=UTC),  # a Wednesday
            ("2026-12-07T00:00+00:00", "2026-12-09T11:00+00:00"),
            ("2026-11-30T00:00+00:00", "2026-12-02T11:00+00:00"),
        ),
        (
            "today",
            datetime(2026, 12, 9, 11, 0, tzinfo=UTC),
            ("2026-12-09T00:00+00:00", "2026-12-09T11:00+00:00"),
            ("2026-12-08T00:00+00:00", "2026-12-08T11:00+00:00"),
        ),
        # Finished periods still compare whole with whole.
        (
            "last_month",
            datetime(2026, 12, 7, 14, 0, tzinfo=UTC),
            ("2026-11-01T00:00+00:00", "2026-12-01T00:00+00:00"),
            ("2026-10-01T00:00+00:00", "2026-11-01T00:00+00:00"),
        ),
    ],
)
def test_to_date_periods_compare_like_with_like(
    period: str, now: datetime, current: tuple[str, str], previous: tuple[str, str]
) -> None:
    cur, prev = analytics.windows(period, now, "UTC")
    assert _local(cur) == current
    assert _local(prev) == previous


def test_month_to_date_in_the_workspace_time_zone() -> None:
    now = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)  # 07:00 in New York
    cur, prev = analytics.windows("this_month", now, "America/New_York")
    assert _local(cur, "America/New_York") == ("2026-03-01T00:00-05:00", "2026-03-03T07:00-05:00")
    assert _local(prev, "America/New_York") == ("2026-02-01T00:00-05:00", "2026-02-03T07:00-05:00")
