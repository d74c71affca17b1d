"""Delivery errors, mapped from provider status codes and SDK exceptions in one place.

DeliveryError
 ├── RetryableError            the outbox tries again later
 │    ├── RateLimited          provider said 429; `retry_after` seconds are honoured
 │    ├── ProviderUnavailable  5xx, connection refused or reset
 │    └── ProviderTimeout      no answer in time (the call may have gone through: maybe_sent)
 ├── Rerouted                 this channel cannot take it now; it goes to `route` instead
 └── PermanentError            retrying cannot help; the row is dead-lettered at once
      ├── Forbidden            401/403: credentials wrong or bot removed
      ├── InvalidRecipient     the address does not exist or has opted out
      └── BadRequest           the provider rejected the payload
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from models.task import Route


class DeliveryError(Exception):
    """Base of every delivery failure."""

    retryable = False
    # Whether the request may have reached the provider and been acted on all the same (no
    # answer in time, the connection cut after sending): the outbox checks before sending again.
    maybe_sent = False

    def __init__(
        self, message: str, *, retry_after: float | None = None, maybe_sent: bool | None = None
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        if maybe_sent is not None:
            self.maybe_sent = maybe_sent


class RetryableError(DeliveryError):
    retryable = True


class RateLimited(RetryableError):
    pass


class ProviderUnavailable(RetryableError):
    pass


class ProviderTimeout(RetryableError):
    maybe_sent = True


class PermanentError(DeliveryError):
    pass


class Rerouted(DeliveryError):
    """The reply goes to another linked channel of the same person; NOTICE tells them why."""

    def __init__(self, message: str, *, route: Route, notice: str = "") -> None:
        super().__init__(message)
        self.route = route
        self.notice = notice


class Forbidden(PermanentError):
    pass


class InvalidRecipient(PermanentError):
    pass


class BadRequest(PermanentError):
    pass


def from_http_status(status: int, message: str, retry_after: float | None = None) -> DeliveryError:
    """Map a provider's HTTP status to the error the outbox acts on."""
    if status == 429:
        return RateLimited(message, retry_after=retry_after)
    if status in (401, 403):
        return Forbidden(message)
    if status in (404, 410):
        return InvalidRecipient(message)
    if status == 408 or status >= 500:
        return ProviderUnavailable(message, retry_after=retry_after)
    return BadRequest(message)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds a Retry-After header asks to wait: delta-seconds, or an HTTP-date (one already
    past means now, 0.0). None when the header is absent, empty, negative or unreadable."""
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000": UTC, with nothing said about the sender's zone
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
