"""Log lines: ISO 8601 UTC timestamps in both formats, and the task and request they are about."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from config.logging import REQUEST_ID, TASK_ID, setup_logging, task_context

ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    captured = io.StringIO()
    yield captured
    logging.getLogger().handlers.clear()


def _configure(stream: io.StringIO, fmt: str) -> logging.Logger:
    setup_logging("INFO", fmt, ["a-long-secret-value"])
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    return logging.getLogger("switchboard.test")


def test_json_lines_carry_iso_utc_time_and_the_task_they_are_about(stream: io.StringIO) -> None:
    log = _configure(stream, "json")
    log.info("outside any task")
    with task_context("task-123"):
        log.warning("about the task with a-long-secret-value")
    token = REQUEST_ID.set("req-9")
    try:
        log.info("inside a request")
    finally:
        REQUEST_ID.reset(token)
    outside, inside, request = (json.loads(line) for line in stream.getvalue().splitlines())
    for line in (outside, inside, request):
        assert ISO_UTC.match(line["time"]), line["time"]
    assert "task_id" not in outside and "request_id" not in outside
    assert inside["task_id"] == "task-123"
    assert inside["message"] == "about the task with [redacted]"
    assert request["request_id"] == "req-9"
    assert TASK_ID.get() is None  # the block reset it


def test_text_lines_start_with_iso_utc_time_and_end_with_the_task(stream: io.StringIO) -> None:
    log = _configure(stream, "text")
    with task_context("task-456"):
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            log.exception("processing failed")
    log.info("plain")
    lines = stream.getvalue().splitlines()
    stamp, _, rest = lines[0].partition(" ")
    assert ISO_UTC.match(stamp), stamp
    assert rest.endswith("processing failed [task=task-456]")
    assert any("RuntimeError: boom" in line for line in lines[1:])
    assert lines[-1].endswith("switchboard.test: plain")
    assert ISO_UTC.match(lines[-1].partition(" ")[0])


def test_an_explicit_task_id_wins_over_the_context(stream: io.StringIO) -> None:
    log = _configure(stream, "json")
    with task_context("from-context"):
        log.info("explicit", extra={"task_id": "given"})
    assert json.loads(stream.getvalue())["task_id"] == "given"


def test_aiohttps_own_access_log_with_raw_paths_stays_silent(stream: io.StringIO) -> None:
    # It would print sign-in and media tokens; the gateway's own access log names routes.
    _configure(stream, "text")
    assert not logging.getLogger("aiohttp.access").isEnabledFor(logging.INFO)
    assert logging.getLogger("switchboard.access").isEnabledFor(logging.INFO)
