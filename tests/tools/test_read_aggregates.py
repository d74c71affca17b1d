"""The read tools' SQL aggregates give exactly what the row functions give from the rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cli.seed import seed_workspace
from core.reports import analytics
from storage.db import Database
from storage.domain import Conversation

NOW = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)  # a Wednesday
METRICS = ("resolution_rate", "escalation_rate", "csat", "volume")
PERIODS = ("today", "yesterday", "this_week", "last_week", "this_month", "last_30_days")


async def _workspace(db: Database, timezone: str) -> str:
    async with db.session() as session:
        seeded = await seed_workspace(session, now=NOW, timezone=timezone)
        # Topics the rows count as "other" (none, empty), and two topics tied in count, so
        # the order of ties (first seen) is compared as well.
        for n, topic in enumerate((None, "", "other", "tied-b", "tied-a", "tied-b", "tied-a")):
            session.add(
                Conversation(
                    workspace_id=seeded.workspace_id,
                    channel="sms",
                    topic=topic,
                    resolved_by_ai=n % 2 == 0,
                    escalated=n % 3 == 0,
                    csat=None if n % 2 else 2,
                    first_response_seconds=5.0,
                    started_at=NOW - timedelta(hours=1, minutes=n),
                )
            )
        return seeded.workspace_id


@pytest.mark.parametrize("timezone", ["UTC", "America/New_York", "Asia/Kolkata"])
async def test_metric_summary_matches_the_rows(db: Database, timezone: str) -> None:
    ws = await _workspace(db, timezone)
    async with db.session() as session:
        for period in PERIODS:
            current, previous = analytics.windows(period, NOW, timezone)
            rows, before = await analytics.conversations_pair(session, ws, current, previous)
            for channel in (None, "sms"):
                now_rows = [r for r in rows if channel is None or r.channel == channel]
                then_rows = [r for r in before if channel is None or r.channel == channel]
                for metric in METRICS:
                    summary = await analytics.metric_summary(
                        session, ws, metric, current, previous, timezone, channel
                    )
                    assert summary is not None
                    assert summary.count == len(now_rows)
                    assert summary.value == analytics.compute(metric, now_rows)
                    assert summary.previous == analytics.compute(metric, then_rows)
                    assert summary.series == analytics.daily_series(
                        metric, now_rows, current, timezone
                    )
                    assert summary.suggestion == analytics.suggestion(metric, now_rows)


async def test_topic_counts_match_the_rows(db: Database) -> None:
    ws = await _workspace(db, "UTC")
    async with db.session() as session:
        for period in PERIODS:
            current, previous = analytics.windows(period, NOW, "UTC")
            rows, before = await analytics.conversations_pair(session, ws, current, previous)
            counted = await analytics.topic_counts_pair(session, ws, current, previous)
            assert counted is not None
            now, earlier = counted
            assert analytics.ranked_topics(now, 10) == analytics.top_topics(rows, 10)
            assert {t: n for t, (n, _) in earlier.items()} == {
                t: n for t, n in analytics.top_topics(before, 100)
            }


async def test_the_median_and_a_clock_change_at_midnight_are_left_to_the_rows(
    db: Database,
) -> None:
    ws = await _workspace(db, "UTC")
    current, previous = analytics.windows("this_week", NOW, "UTC")
    async with db.session() as session:
        summary = await analytics.metric_summary(
            session, ws, "first_response_time", current, previous, "UTC"
        )
        assert summary is None
    # Cuba moved its clocks back at 01:00 to 00:00 on 2026-11-01: local midnight came twice.
    window = analytics.Window(
        datetime(2026, 10, 30, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC), ""
    )
    assert analytics.day_bounds(window, "America/Havana") is None
    assert analytics.day_bounds(window, "America/New_York") is not None
