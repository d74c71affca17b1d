"""Structured logs: JSON lines when not on a terminal, ISO 8601 UTC timestamps, the task and
request a line is about, and configured secrets redacted."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from datetime import UTC, datetime

from pythonjsonlogger.json import JsonFormatter

REDACTED = "[redacted]"

# The task the current asyncio task works on (a worker processing it, a request that committed
# it) and the HTTP request it serves; `ContextFields` copies them onto every record.
TASK_ID: ContextVar[str | None] = ContextVar("switchboard_task_id", default=None)
REQUEST_ID: ContextVar[str | None] = ContextVar("switchboard_request_id", default=None)


@contextlib.contextmanager
def task_context(task_id: str | None) -> Iterator[None]:
    """Every line logged inside the block (by this asyncio task) names TASK_ID."""
    token = TASK_ID.set(task_id)
    try:
        yield
    finally:
        TASK_ID.reset(token)


def iso_utc(created: float) -> str:
    """A record's time as ISO 8601 in UTC with milliseconds: 2026-12-06T08:00:25.123Z."""
    stamp = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


class ContextFields(logging.Filter):
    """Adds `task_id` and `request_id` from the context to a record (when set and not given
    explicitly as `extra`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in (("task_id", TASK_ID), ("request_id", REQUEST_ID)):
            value = var.get()
            if value is not None and getattr(record, name, None) is None:
                setattr(record, name, value)
        return True


class TextFormatter(logging.Formatter):
    """`TIME LEVEL logger: message [task=... request=...]`, TIME in ISO 8601 UTC."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return iso_utc(record.created)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        tags = [
            f"{label}={value}"
            for label, value in (
                ("task", getattr(record, "task_id", None)),
                ("request", getattr(record, "request_id", None)),
            )
            if value
        ]
        if not tags:
            return text
        first, newline, rest = text.partition("\n")  # after the message, before a traceback
        return f"{first} [{' '.join(tags)}]{newline}{rest}"


class UtcJsonFormatter(JsonFormatter):
    """python-json-logger's JSON lines, `time` in ISO 8601 UTC."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return iso_utc(record.created)


class RedactSecrets(logging.Filter):
    """Replaces any configured secret in a record's message or extras, whatever logged it."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def _clean(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        record.msg = self._clean(record.getMessage())
        record.args = None
        for key, value in list(record.__dict__.items()):
            if isinstance(value, str) and key not in ("msg", "name", "levelname", "pathname"):
                setattr(record, key, self._clean(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._clean(record.exc_text)
            # Formatters re-render exc_info from the live exception; keep only the clean text.
            record.exc_info = None
        return True


def formatter_for(fmt: str) -> logging.Formatter:
    """The formatter LOG_FORMAT names ("auto": JSON unless standard error is a terminal)."""
    if fmt == "json" or (fmt == "auto" and not sys.stderr.isatty()):
        return UtcJsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    return TextFormatter()


# The loggers the Slack SDK's clients test with `logger.level <= logging.DEBUG`.
_SLACK_SDK_LOGGERS = ("slack_sdk.web.async_base_client", "slack_sdk.web.base_client")


def sdk_logger(parent: logging.Logger, name: str) -> logging.Logger:
    """PARENT's child NAME, to hand to a Slack SDK client: its level set to PARENT's effective
    one. The SDK builds its debug lines whenever its logger's own level is at most DEBUG, and
    a child's unset level (0) is (see `setup_logging`)."""
    child = parent.getChild(name)
    child.setLevel(parent.getEffectiveLevel())
    return child


def setup_logging(level: str = "INFO", fmt: str = "auto", secrets: Iterable[str] = ()) -> None:
    """Configure the root logger once, at start-up."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter_for(fmt))
    handler.addFilter(ContextFields())
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiohttp's own access log shows raw paths (sign-in tokens, media tokens): the gateway
    # writes its own (`switchboard.access`, route templates only).
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # httpx logs every request URL at INFO, and Telegram's URLs carry the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # The Slack SDK builds its request and response debug lines (the message's text and
    # blocks, the whole answer) whenever its own logger's level is at most DEBUG, and an
    # unset level (0) is: a tenth of a reply's CPU went to lines never written. Its level
    # set to the gateway's, it builds them only when they are written.
    for name in _SLACK_SDK_LOGGERS:
        logging.getLogger(name).setLevel(level)
