"""A background loop's failures, told as one story instead of a flood.

When the database goes away every loop that polls it fails on every round; logged as is, an
outage of a minute buries the log under thousands of tracebacks and the loops spin. A
`RepeatedFailure` logs the first failure with its traceback, then at most one line a minute
saying the loop is still failing (and how many times), then one line when it recovers; and it
says how long to wait before the next try, doubling from `first` up to `longest`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable


class RepeatedFailure:
    def __init__(
        self,
        log: logging.Logger,
        what: str,
        *,
        first: float = 0.5,
        longest: float = 15.0,
        every: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log, self._what = log, what
        self._first, self._longest, self._every = first, longest, every
        self._clock = clock
        self.count = 0
        self._since = 0.0
        self._last_logged = 0.0

    def failed(self, exc: BaseException) -> float:
        """Record a failed round; the seconds to wait before the next."""
        now = self._clock()
        self.count += 1
        if self.count == 1:
            self._since = self._last_logged = now
            self._log.error("%s failed; retrying", self._what, exc_info=exc)
        elif now - self._last_logged >= self._every:
            self._last_logged = now
            self._log.error(
                "%s still failing: %d failures in %.0f s, the last: %s: %s",
                self._what,
                self.count,
                now - self._since,
                type(exc).__name__,
                exc,
            )
        return float(min(self._longest, self._first * 2 ** min(self.count - 1, 16)))

    def succeeded(self) -> None:
        """A round went through: say so if the rounds before it had failed."""
        if self.count:
            self._log.warning(
                "%s recovered after %d failures in %.0f s",
                self._what,
                self.count,
                self._clock() - self._since,
            )
            self.count = 0


async def pause(seconds: float, wakeup: asyncio.Event, stopped: Callable[[], bool]) -> None:
    """Wait SECONDS of real time before a loop's next try, or until STOPPED() turns true
    (checked whenever WAKEUP is set; a wake-up for new work does not end the pause)."""
    deadline = time.monotonic() + seconds
    while not stopped() and (left := deadline - time.monotonic()) > 0:
        wakeup.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wakeup.wait(), left)
