"""parse_retry_after: delta-seconds, HTTP-dates, and what is not a Retry-After at all."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from delivery.errors import parse_retry_after

NOW = datetime(2015, 10, 21, 7, 27, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("0", 0.0), ("7", 7.0), ("120", 120.0), (" 30 ", 30.0), ("1.5", 1.5)],
)
def test_delta_seconds_are_read_as_seconds(value: str, seconds: float) -> None:
    assert parse_retry_after(value, now=NOW) == seconds


def test_an_http_date_is_the_seconds_from_now_until_it() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=NOW) == 60.0
    assert parse_retry_after("Wed, 21 Oct 2015 08:27:00 -0000", now=NOW) == 3600.0


def test_an_http_date_already_past_means_now() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:26:00 GMT", now=NOW) == 0.0


def test_an_http_date_is_measured_from_the_wall_clock_by_default() -> None:
    seconds = parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT")
    assert seconds is not None
    assert seconds > 365 * 24 * 3600


@pytest.mark.parametrize("value", ["-1", "-0.5", "-3600"])
def test_negative_seconds_are_no_answer(value: str) -> None:
    assert parse_retry_after(value, now=NOW) is None


@pytest.mark.parametrize(
    "value",
    ["soon", "5 seconds", "nan", "inf", "Wed, 32 Oct 2015 07:28:00 GMT", "Mon, 99 Foo", "0x10"],
)
def test_garbage_is_no_answer(value: str) -> None:
    assert parse_retry_after(value, now=NOW) is None


@pytest.mark.parametrize("value", [None, "", "   "])
def test_an_absent_or_empty_header_is_no_answer(value: str | None) -> None:
    assert parse_retry_after(value, now=NOW) is None
