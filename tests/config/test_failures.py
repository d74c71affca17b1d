"""A loop's repeated failures: one traceback, a line a minute while it lasts, one on recovery,
and pauses that double up to a bound."""

from __future__ import annotations

import logging

import pytest

from config.failures import RepeatedFailure


def test_an_outage_is_one_story_with_growing_pauses(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    failures = RepeatedFailure(
        logging.getLogger("loop"),
        "claiming",
        first=0.5,
        longest=4.0,
        every=60,
        clock=lambda: now[0],
    )
    pauses = []
    with caplog.at_level(logging.INFO, logger="loop"):
        for _ in range(40):  # 40 failed rounds, two seconds apart: 78 s of outage
            pauses.append(failures.failed(ConnectionError("refused")))
            now[0] += 2
        failures.succeeded()
        failures.succeeded()  # nothing more to say once recovered
    assert pauses[:5] == [0.5, 1.0, 2.0, 4.0, 4.0] and max(pauses) == 4.0
    messages = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert messages == [
        ("ERROR", "claiming failed; retrying"),
        (
            "ERROR",
            "claiming still failing: 31 failures in 60 s, the last: ConnectionError: refused",
        ),
        ("WARNING", "claiming recovered after 40 failures in 80 s"),
    ]
    assert caplog.records[0].exc_info is not None  # the first one carries its traceback
    assert failures.failed(ConnectionError("again")) == 0.5  # a new outage starts over
