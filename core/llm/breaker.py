"""A circuit breaker per LLM endpoint: closed, open after repeated failures, one probe, closed."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

BreakerState = Literal["closed", "open", "half_open"]
# The values of the `switchboard_llm_breaker_state` gauge.
STATE_CODES: dict[BreakerState, int] = {"closed": 0, "half_open": 1, "open": 2}


class CircuitBreaker:
    """Keeps calls away from an endpoint that keeps failing, and finds out when it is back.

    Closed: every call goes out. After `failure_threshold` consecutive failures (errors or
    timeouts) it opens for `cool_down` seconds and no call goes out. Once the cool-down has
    passed it is half-open: exactly one caller gets the probe; the probe's success closes the
    breaker, its failure opens it for another cool-down. `hold(until)` opens it until a time the
    endpoint named itself (a 429's Retry-After) without counting a failure.

    `clock` is monotonic seconds, injectable so tests control time. Not thread-safe: it lives on
    one event loop, where nothing interleaves between its methods.
    """

    def __init__(
        self,
        *,
        failure_threshold: int = 3,
        cool_down: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if cool_down < 0:
            raise ValueError("cool_down must not be negative")
        self.failure_threshold = failure_threshold
        self.cool_down = cool_down
        self._clock = clock
        self._failures = 0
        self._open_until: float | None = None  # None: closed
        self._probing = False

    @property
    def state(self) -> BreakerState:
        if self._open_until is None:
            return "closed"
        if self._clock() < self._open_until:
            return "open"
        return "half_open"

    @property
    def state_code(self) -> int:
        return STATE_CODES[self.state]

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def try_acquire(self) -> bool:
        """Whether a call may go out now. When half-open, only the first caller is let through;
        it must report back with `record_success`, `record_failure`, `hold` or `release`."""
        state = self.state
        if state == "closed":
            return True
        if state == "open" or self._probing:
            return False
        self._probing = True
        return True

    def record_success(self) -> None:
        self._failures = 0
        self._open_until = None
        self._probing = False

    def record_failure(self) -> None:
        self._failures += 1
        # A failed probe (or a late failure while open) re-opens at once; otherwise count up.
        if self._open_until is not None or self._failures >= self.failure_threshold:
            self._open_until = self._clock() + self.cool_down
        self._probing = False

    def hold(self, until: float) -> None:
        """Send nothing before UNTIL (monotonic seconds); afterwards one probe, as after a trip."""
        self._open_until = max(until, self._open_until or until)
        self._probing = False

    def release(self) -> None:
        """The caller gave up without a verdict (cancelled): its probe slot is free again."""
        self._probing = False
