"""Snooze requests as people type them, into `snooze_assist` calls whose `until` the tool
resolves in the requester's time zone (core.schedules.moments)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.classify.offline import OfflineClassifier
from core.schedules.moments import resolve
from core.tools.args import TOOL_ARGS


@pytest.fixture(scope="module")
def classifier() -> OfflineClassifier:
    return OfflineClassifier()


SNOOZES = [
    ("snooze A-1042 until Monday 9am", [("A-1042", "monday 09:00")]),
    ("snooze A-1042 for 2 hours", [("A-1042", "2 hours")]),
    ("Snooze A-1042 till tomorrow", [("A-1042", "tomorrow")]),
    ("snooze a1042 til tmrw 8:30", [("A-1042", "tomorrow 08:30")]),
    ("pls snooze A-7 for half an hour", [("A-7", "30 minutes")]),
    ("snooze A-1042 for an hour", [("A-1042", "1 hour")]),
    ("snooze A-1042 for three days", [("A-1042", "3 days")]),
    ("snooze A-3 until tomorrow morning", [("A-3", "tomorrow 09:00")]),
    ("can you defer A-12 to friday afternoon", [("A-12", "friday 13:00")]),
    ("snooze A-9 till 3pm", [("A-9", "15:00")]),
    ("Snooze A-1042 until Monday at 9", [("A-1042", "monday 09:00")]),
    ("snooze A-5 and A-6 until next week", [("A-5", "monday 09:00"), ("A-6", "monday 09:00")]),
    ("snooze A-8 until end of day", [("A-8", "today 17:00")]),
]


@pytest.mark.parametrize(("text", "expected"), SNOOZES)
def test_snooze_requests_become_calls(
    classifier: OfflineClassifier, text: str, expected: list[tuple[str, str]]
) -> None:
    result = classifier.classify(text)
    calls = [(c.tool, dict(c.args)) for c in result.calls]
    assert calls == [("snooze_assist", {"assist": r, "until": u}) for r, u in expected], text
    for call in result.calls:
        TOOL_ARGS[call.tool].model_validate(call.args)


def test_other_requests_stay_what_they_were(classifier: OfflineClassifier) -> None:
    both = classifier.classify("close A-1 and snooze A-2 till monday")
    assert [(c.tool, dict(c.args)) for c in both.calls] == [
        ("close_assist", {"assist": "A-1"}),
        ("snooze_assist", {"assist": "A-2", "until": "monday"}),
    ]
    listed = classifier.classify("show snoozed assists")
    assert [(c.tool, dict(c.args)) for c in listed.calls] == [
        ("list_assists", {"status": "snoozed"})
    ]
    asked = classifier.classify("snooze A-1042")
    assert not asked.calls and asked.reply and "Until when" in asked.reply


NOW = datetime(2026, 3, 7, 15, 0, tzinfo=UTC)  # Saturday; New York springs forward on the 8th


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("monday 09:00", datetime(2026, 3, 9, 13, tzinfo=UTC)),  # 09:00 EDT, after the change
        ("tomorrow", datetime(2026, 3, 8, 13, tzinfo=UTC)),
        ("2 hours", datetime(2026, 3, 7, 17, tzinfo=UTC)),
        ("in 30 minutes", datetime(2026, 3, 7, 15, 30, tzinfo=UTC)),
        ("09:00", datetime(2026, 3, 8, 13, tzinfo=UTC)),  # today's 09:00 has passed
        ("18:00", datetime(2026, 3, 7, 23, tzinfo=UTC)),  # today's has not
        ("saturday", datetime(2026, 3, 14, 13, tzinfo=UTC)),  # a week on: today is Saturday
        ("2026-03-10T08:00", datetime(2026, 3, 10, 12, tzinfo=UTC)),
        ("2026-03-10T08:00+00:00", datetime(2026, 3, 10, 8, tzinfo=UTC)),
    ],
)
def test_moments_resolve_in_the_time_zone(said: str, expected: datetime) -> None:
    assert resolve(said, NOW, "America/New_York") == expected


@pytest.mark.parametrize("said", ["someday", "monday 25:00", "in two hours", ""])
def test_unreadable_moments_are_refused(said: str) -> None:
    with pytest.raises(ValueError):
        resolve(said, NOW, "America/New_York")
