"""Every webhook refused for its signature or credentials, logged as one WARNING per channel
per minute at most (with how many more there were), so a flood of forged requests shows up
without flooding the log. The reason is the check's own message; no secret and no signature
value is ever part of it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("switchboard.webhooks")

WINDOW_SECONDS = 60.0


@dataclass
class _Window:
    opened: float
    suppressed: int = 0


class RejectionLog:
    """Logs rejections, at most one line per channel per WINDOW_SECONDS; the next logged line
    says how many were left out since the last one."""

    def __init__(
        self,
        *,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger = log,
    ) -> None:
        self._window = window
        self._clock = clock
        self._log = logger
        self._windows: dict[str, _Window] = {}

    def rejected(self, channel: str, route: str, reason: str, remote: str | None) -> bool:
        """Record one rejection; True when it was logged (False: counted towards the next)."""
        now = self._clock()
        window = self._windows.get(channel)
        if window is not None and now - window.opened < self._window:
            window.suppressed += 1
            return False
        suppressed = window.suppressed if window is not None else 0
        self._windows[channel] = _Window(opened=now)
        more = (
            f" ({suppressed} more rejected since the last report were not logged)"
            if suppressed
            else ""
        )
        self._log.warning(
            "rejected a %s webhook on %s from %s: %s%s",
            channel,
            route,
            remote or "an unknown address",
            reason,
            more,
            extra={
                "channel": channel,
                "route": route,
                "remote": remote,
                "reason": reason,
                "suppressed": suppressed,
            },
        )
        return True
