"""The metric statement counts each local day by its own range of start times, and gives what
the rows give: every period, metric and channel filter, in zones with and without clock
changes, with conversations on each day's edges and the windows' edges, days without any,
a workspace without any, and another workspace's that must not count."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.reports import analytics
from storage.db import Database
from storage.domain import Conversation
from tests.factories import make_workspace
from tests.helpers import query_plan

METRICS = ("volume", "resolution_rate", "escalation_rate", "csat")
CHANNELS = (None, "sms", "telegram")  # telegram: a channel no conversation came on
TOPICS = (None, "", "other", "billing", "refunds", "shipping")
US = timedelta(microseconds=1)
DAYS_90 = "the 90 days to today"  # a period `windows` has not: two Windows made here

# (zone, now). New York's clocks went forward on 2026-03-08 and
# back on 2026-11-01 (at 02:00, so no local midnight comes twice): the days of last week and
# this month hold the change, as do last month on 2026-12-07 and the 90 days each time.
CASES = [
    ("UTC", datetime(2026, 11, 18, 15, 30, tzinfo=UTC)),
    ("America/New_York", datetime(2026, 11, 4, 15, 30, tzinfo=UTC)),
    ("America/New_York", datetime(2026, 3, 11, 16, 45, tzinfo=UTC)),
    ("America/New_York", datetime(2026, 12, 7, 14, 0, tzinfo=UTC)),
    ("Asia/Kolkata", datetime(2026, 11, 18, 20, 0, tzinfo=UTC)),  # 01:30 on the 19th there
    # At a local midnight, where today's window is empty (and, on the 1st, this month's).
    ("America/New_York", datetime(2026, 12, 7, 5, 0, tzinfo=UTC)),
    ("UTC", datetime(2026, 12, 1, 0, 0, tzinfo=UTC)),
]


def _windows(period: str, now: datetime, tz: str) -> tuple[analytics.Window, analytics.Window]:
    if period != DAYS_90:
        return analytics.windows(period, now, tz)
    zone = ZoneInfo(tz)
    today = now.astimezone(zone).date()

    def midnight(days_ago: int) -> datetime:
        return datetime.combine(today - timedelta(days=days_ago), time(0), zone).astimezone(UTC)

    return (
        analytics.Window(midnight(90), midnight(0), DAYS_90),
        analytics.Window(midnight(180), midnight(90), "the period before"),
    )


PERIODS = (*analytics.PERIOD_LABELS, DAYS_90)


def _starts(now: datetime, tz: str) -> list[datetime]:
    """When the conversations start: at each local midnight, a microsecond after it, at noon
    and a microsecond before the next midnight, except on every fifth day (none at all then);
    and at each period's edges and a microsecond either side of them."""
    zone = ZoneInfo(tz)
    today = now.astimezone(zone).date()
    starts: set[datetime] = set()
    for back in range(-2, 190):  # the 90 days before the 90 days to today, and more
        day = today - timedelta(days=back)
        if day.toordinal() % 5 == 0:
            continue
        midnight = datetime.combine(day, time(0), zone).astimezone(UTC)
        following = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
        starts |= {midnight, midnight + US, midnight + timedelta(hours=12), following - US}
    for period in PERIODS:
        for window in _windows(period, now, tz):
            for edge in (window.start, window.end):
                starts |= {edge - US, edge, edge + US}
    return sorted(starts)


async def _workspaces(
    db: Database, now: datetime, tz: str
) -> tuple[str, str, list[tuple[datetime, str]]]:
    """A workspace with conversations, one with none, and the (start, channel) of each of the
    first's; a third workspace has a conversation at every one of those times too."""
    rng = random.Random(20261118)
    made: list[tuple[datetime, str]] = []
    async with db.session() as session:
        ws = (await make_workspace(session, timezone=tz)).id
        empty = (await make_workspace(session, timezone=tz)).id
        other = (await make_workspace(session, timezone=tz)).id
        for n, start in enumerate(_starts(now, tz)):
            channel = ("sms", "web", "email")[n % 3]
            made.append((start, channel))
            session.add(
                Conversation(
                    workspace_id=ws,
                    channel=channel,
                    topic=rng.choice(TOPICS),
                    resolved_by_ai=rng.random() < 0.6,
                    escalated=rng.random() < 0.3,
                    csat=rng.choice((None, None, 1, 2, 3, 4, 5)),
                    first_response_seconds=5.0,
                    started_at=start,
                )
            )
            # Misses on a topic of their own, on the channel filtered by: seen if counted.
            session.add(
                Conversation(
                    workspace_id=other,
                    channel="sms",
                    topic="elsewhere",
                    resolved_by_ai=False,
                    escalated=True,
                    csat=1,
                    started_at=start,
                )
            )
    return ws, empty, made


@pytest.mark.parametrize(("tz", "now"), CASES, ids=[f"{tz}-{now:%Y-%m-%d}" for tz, now in CASES])
async def test_metric_summary_counts_each_day_as_the_rows_do(
    db: Database, tz: str, now: datetime
) -> None:
    ws, empty, made = await _workspaces(db, now, tz)
    empty_days = 0
    async with db.session() as session:
        for period in PERIODS:
            current, previous = _windows(period, now, tz)
            assert analytics.day_bounds(current, tz) is not None
            for workspace in (ws, empty):
                rows, before = await analytics.conversations_pair(
                    session, workspace, current, previous
                )
                for channel in CHANNELS:
                    now_rows = [r for r in rows if channel is None or r.channel == channel]
                    then_rows = [r for r in before if channel is None or r.channel == channel]
                    # The rows themselves, against the times the conversations were made at.
                    assert len(now_rows) == sum(
                        current.start <= start < current.end and channel in (None, made_on)
                        for start, made_on in (made if workspace == ws else [])
                    )
                    for metric in METRICS:
                        summary = await analytics.metric_summary(
                            session, workspace, metric, current, previous, tz, channel
                        )
                        expected = analytics.MetricSummary(
                            count=len(now_rows),
                            value=analytics.compute(metric, now_rows),
                            previous=analytics.compute(metric, then_rows),
                            series=analytics.daily_series(metric, now_rows, current, tz),
                            suggestion=analytics.suggestion(metric, now_rows),
                        )
                        assert summary == expected, (period, workspace == ws, channel, metric)
                    if workspace == ws and channel is None:
                        empty_days += sum(
                            value == 0
                            for _, value in analytics.daily_series("volume", now_rows, current, tz)
                        )
    assert empty_days  # the days without conversations were among those compared


async def test_sqlite_counts_each_day_by_the_start_time_index(db: Database) -> None:
    if not db.is_sqlite:
        pytest.skip("the query plans looked at are SQLite's")
    for days in (1, 2, 31, 90, 366):
        for by_channel in (False, True):
            sql = analytics._metric_statement(days, by_channel).plan(db.engine.dialect).sql
            plan = query_plan(db, sql)
            # The compound's parts, each with its steps: the per-topic counts, then the
            # previous window, then each day of the current one.
            (compound,) = [id_ for id_, parent, _, _ in plan if parent == 0]
            parts: dict[int, list[str]] = {
                id_: [] for id_, parent, _, _ in plan if parent == compound
            }
            for _, parent, _, step in plan:
                if parent in parts:
                    parts[parent].append(step)
            topics, *ranges = parts.values()
            assert len(ranges) == days + 1, (days, plan)
            # Every part reads the index alone (it carries the columns counted, migration
            # 0020), never the conversations' rows.
            index = "SEARCH conversations USING COVERING INDEX ix_conversations_started "
            assert any(step.startswith(index) for step in topics), topics
            for steps in ranges:
                # One range each, and nothing grouped or sorted.
                assert steps == [index + "(workspace_id=? AND started_at>? AND started_at<?)"], (
                    days,
                    steps,
                )


async def test_more_than_a_year_of_days_is_left_to_the_rows(db: Database) -> None:
    async with db.session() as session:
        ws = (await make_workspace(session)).id
        end = datetime(2026, 11, 18, tzinfo=UTC)
        for days, counted in ((366, True), (367, False)):
            current = analytics.Window(end - timedelta(days=days), end, "")
            previous = analytics.Window(current.start - timedelta(days=days), current.start, "")
            summary = await analytics.metric_summary(
                session, ws, "volume", current, previous, "UTC", "sms"
            )
            assert (summary is not None) == counted
            if summary is not None:
                assert len(summary.series) == days
                assert summary.series == analytics.daily_series("volume", [], current, "UTC")
