"""What each plan includes: snapshot retention and recurring-briefing quotas."""

from __future__ import annotations

from datetime import timedelta

RETENTION_DAYS = {"plus": 7, "pro": 30, "enterprise": 90}
# Recurring briefings per AI agent; None means unlimited. One-off follow-ups do not count.
SCHEDULE_QUOTAS: dict[str, int | None] = {"plus": 3, "pro": 10, "enterprise": None}


def retention(plan: str) -> timedelta:
    return timedelta(days=RETENTION_DAYS.get(plan, 7))
