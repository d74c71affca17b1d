"""Fire times from APScheduler triggers in the schedule's time zone: DST, months, coalescing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.schedules.timing import Timing, next_fire, plan

NY = "America/New_York"
HOUR = timedelta(hours=1)


def fires(timing: Timing, after: datetime, count: int) -> list[datetime]:
    out: list[datetime] = []
    for _ in range(count):
        nxt = next_fire(timing, after)
        assert nxt is not None
        out.append(nxt)
        after = nxt
    return out


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_eight_in_new_york_stays_eight_local_across_both_dst_changes() -> None:
    daily = Timing("daily", "08:00", NY)
    # EDT (UTC-4) until Sunday 1 November 2026, EST (UTC-5) after.
    assert fires(daily, utc(2026, 10, 30), 4) == [
        utc(2026, 10, 30, 12),
        utc(2026, 10, 31, 12),
        utc(2026, 11, 1, 13),
        utc(2026, 11, 2, 13),
    ]
    # And back to EDT on Sunday 14 March 2027.
    assert fires(daily, utc(2027, 3, 12), 4) == [
        utc(2027, 3, 12, 13),
        utc(2027, 3, 13, 13),
        utc(2027, 3, 14, 12),
        utc(2027, 3, 15, 12),
    ]


def test_the_repeated_hour_fires_once_and_the_skipped_hour_an_hour_later() -> None:
    # 01:30 happens twice on 1 November 2026: once only, at the first (EDT) one.
    assert fires(Timing("daily", "01:30", NY), utc(2026, 10, 31, 6), 2) == [
        utc(2026, 11, 1, 5, 30),
        utc(2026, 11, 2, 6, 30),
    ]
    # 02:30 does not exist on 14 March 2027: it goes out at 03:30 EDT, once.
    assert fires(Timing("daily", "02:30", NY), utc(2027, 3, 13, 8), 2) == [
        utc(2027, 3, 14, 7, 30),
        utc(2027, 3, 15, 6, 30),
    ]


def test_weekdays_weekly_and_monthly_cadences() -> None:
    friday = utc(2026, 11, 20, 12)  # 07:00 in New York
    weekdays = fires(Timing("weekdays", "08:00", NY), friday, 3)
    assert [d.strftime("%a %d") for d in weekdays] == ["Fri 20", "Mon 23", "Tue 24"]
    weekly = fires(Timing("weekly", "09:00", "UTC", ("tuesday", "thursday")), friday, 3)
    assert weekly == [utc(2026, 11, 24, 9), utc(2026, 11, 26, 9), utc(2026, 12, 1, 9)]
    fifteenth = fires(Timing("monthly", "10:00", "Europe/Berlin", day_of_month=15), friday, 2)
    assert fifteenth == [utc(2026, 12, 15, 9), utc(2027, 1, 15, 9)]
    # The 31st of a month that has none is its last day; 29 February in a leap year only.
    last = fires(Timing("monthly", "09:00", "UTC", day_of_month=31), utc(2027, 1, 1), 4)
    assert [d.date().isoformat() for d in last] == [
        "2027-01-31",
        "2027-02-28",
        "2027-03-31",
        "2027-04-30",
    ]
    leap = fires(Timing("monthly", "09:00", "UTC", day_of_month=29), utc(2028, 1, 30), 2)
    assert [d.date().isoformat() for d in leap] == ["2028-02-29", "2028-03-29"]


def test_a_one_off_fires_once() -> None:
    once = Timing("once", "08:00", "UTC", one_off_at=utc(2026, 11, 25, 8))
    assert next_fire(once, utc(2026, 11, 18)) == utc(2026, 11, 25, 8)
    assert next_fire(once, utc(2026, 11, 25, 8)) is None


def test_missed_fires_coalesce_into_the_latest_within_the_grace_period() -> None:
    daily = Timing("daily", "08:00", "UTC")
    created = utc(2026, 11, 1, 7)
    # Down for three days, back at 08:40: the three missed briefings become one, 08:00 today.
    assert plan(daily, since=created, now=utc(2026, 11, 4, 8, 40), grace=HOUR) == (
        utc(2026, 11, 4, 8),
        utc(2026, 11, 5, 8),
    )
    # Back at 09:30: today's is more than an hour late, so none is sent; tomorrow's is normal.
    assert plan(daily, since=created, now=utc(2026, 11, 4, 9, 30), grace=HOUR) == (
        None,
        utc(2026, 11, 5, 8),
    )
    # Already sent at 08:00: a restart at 08:10 sends nothing again.
    assert plan(daily, since=utc(2026, 11, 4, 8), now=utc(2026, 11, 4, 8, 10), grace=HOUR) == (
        None,
        utc(2026, 11, 5, 8),
    )
