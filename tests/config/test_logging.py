"""Logs: JSON lines off a terminal, and configured secrets never appear."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest

from config.logging import REDACTED, RedactSecrets, setup_logging


@pytest.fixture
def captured() -> io.StringIO:
    return io.StringIO()


def _logger_to(stream: io.StringIO, secrets: list[str]) -> logging.Logger:
    setup_logging("INFO", "json", secrets)
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    return logging.getLogger("switchboard.test")


def test_json_lines_with_secrets_redacted(captured: io.StringIO) -> None:
    token = "xoxb-1234567890-secret"
    log = _logger_to(captured, [token])
    log.info("calling slack with %s", token, extra={"header": f"Bearer {token}"})
    try:
        raise RuntimeError(f"auth failed for {token}")
    except RuntimeError:
        log.exception("send failed")
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    assert lines[0]["message"] == f"calling slack with {REDACTED}"
    assert lines[0]["header"] == f"Bearer {REDACTED}"
    assert lines[0]["level"] == "INFO"
    assert token not in captured.getvalue()
    assert "RuntimeError" in lines[1]["exc_info"]
    logging.getLogger().handlers.clear()


def test_short_values_are_not_treated_as_secrets() -> None:
    # A 2-character "secret" would shred every message; real secrets are long.
    f = RedactSecrets(["ab", "long-enough-secret"])
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "ab long-enough-secret", None, None)
    f.filter(record)
    assert record.getMessage() == f"ab {REDACTED}"


async def test_the_slack_sdk_builds_no_debug_lines_below_debug(
    slack_sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It formats each request's and answer's debug line (text, blocks, the whole answer)
    whenever its logger's own level is at most DEBUG, written or not."""
    from slack_sdk.web.async_client import AsyncWebClient

    sdk = logging.getLogger("slack_sdk.web.async_base_client")
    built: list[str] = []
    monkeypatch.setattr(sdk, "debug", lambda msg, *a, **kw: built.append(str(msg)))
    client = AsyncWebClient(token=slack_sim.token, base_url=slack_sim.api_url)

    setup_logging("INFO", "json")
    await client.chat_postMessage(channel="C1", text="hello")
    assert built == []

    setup_logging("DEBUG", "json")  # asked for: then they are built and written
    await client.chat_postMessage(channel="C1", text="hello")
    assert any("Sending a request" in line for line in built)
    setup_logging("INFO", "json")
