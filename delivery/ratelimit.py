"""Outbound rate limits, per provider and per conversation, all in this one place.

Each provider call a reply turns into (an `Op`) names the limits it counts against as
`(rule, id)` keys, e.g. `("slack.channel", "C123")`. A rule allows `limit` calls on one key in
any `window` seconds, as the provider counts them: on arrival, in a sliding window. The outbox
takes a permit for every key of a call right before making it and gives it back when the call
is answered. A call holds its place in a key's window from that start until `window` seconds
after its answer: the request reached the provider somewhere in between, so however the event
loop, the network or the provider spread the calls, no window of that length at the provider
sees more than `limit` of them. (Counting from when we start a call instead lets a call that is
slow to leave land within the same second as later ones: the 38 calls in one second the
simulators saw against a limit of 30.) The price is one round trip per window: under 1 %
against the simulators, a network's latency (say 5 % at 50 ms) against a chat's 1 a second.

A 429 that happens anyway (another client on the same token, a limit lower than documented)
blocks the call's keys for the provider's Retry-After.

The figures are the providers' documented limits:
- Slack `chat.postMessage`: 1 message per second per channel ("special" tier); an upload
  (`files_upload_v2`) makes one `files.getUploadURLExternal` and one
  `files.completeUploadExternal` call, both Tier 4 (100 per minute per workspace). The
  retired `files.upload` was Tier 2 (20 a minute): holding uploads to that kept charts, and
  the replies queued behind them, waiting five times longer than Slack asks.
- Telegram: about 1 message per second in one chat, 30 per second across chats for one bot,
  20 per minute in one group (Bot FAQ, "My bot is hitting limits").
- Twilio: a long code sends 1 message segment per second (excess is queued by Twilio, but the
  queue costs latency); we keep 1 per second per recipient and the account's default API
  concurrency per sender.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

RateKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Rule:
    """LIMIT calls in any window of LIMIT * INTERVAL seconds; an interval of 0 means no limit."""

    interval: float  # seconds per call on average: window / limit
    why: str = ""
    limit: int = 1

    @classmethod
    def per(cls, limit: int, window: float, why: str = "") -> Rule:
        return cls(window / limit, why, limit)

    @property
    def window(self) -> float:
        return self.interval * self.limit


RULES: Mapping[str, Rule] = {
    "slack.channel": Rule.per(1, 1.0, "chat.postMessage: 1 per second per channel"),
    "slack.files": Rule.per(
        100, 60.0, "files_upload_v2: its two calls are Tier 4, 100 per minute per workspace"
    ),
    "telegram.chat": Rule.per(1, 1.0, "about 1 message per second in one chat"),
    "telegram.group": Rule.per(20, 60.0, "20 messages per minute in one group"),
    "telegram.bot": Rule.per(30, 1.0, "30 messages per second across all chats"),
    "twilio.to": Rule.per(1, 1.0, "1 message per second to one recipient"),
    "twilio.from": Rule.per(25, 1.0, "default REST concurrency per sending number"),
}


@dataclass(slots=True)
class _Window:
    """One key: its calls in flight and the answer times of those still inside the window."""

    limit: int
    window: float
    in_flight: int = 0
    answered: deque[float] = field(default_factory=deque)  # oldest first
    blocked_until: float = -math.inf

    def expire(self, now: float) -> None:
        while self.answered and self.answered[0] + self.window <= now:
            self.answered.popleft()

    def free_at(self, now: float) -> float:
        """When one more call may start (never before NOW); while LIMIT calls are in flight,
        a lower bound (an answer now, plus the window)."""
        self.expire(now)
        at = max(now, self.blocked_until)
        if self.window <= 0:
            return at
        excess = self.in_flight + len(self.answered) - self.limit + 1  # calls that must leave
        if excess <= 0:
            return at
        if excess <= len(self.answered):
            return max(at, self.answered[excess - 1] + self.window)
        return max(at, now + self.window)

    def idle(self, now: float) -> bool:
        self.expire(now)
        return self.in_flight == 0 and not self.answered and self.blocked_until <= now


class Permit:
    """The right to make one call on KEYS; give it back with `RateLimiter.release`."""

    __slots__ = ("keys", "released")

    def __init__(self, keys: tuple[RateKey, ...]) -> None:
        self.keys = keys
        self.released = False


class RateLimiter:
    """Sliding windows of calls per key, on monotonic time; one instance per gateway node."""

    def __init__(
        self,
        rules: Mapping[str, Rule] = RULES,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # The mapping is read on every new key (tests swap rules in RULES).
        self._rules = rules
        self._clock = clock
        self._windows: dict[RateKey, _Window] = {}

    def rule(self, key: RateKey) -> Rule | None:
        return self._rules.get(key[0])

    def spacing(self, keys: Iterable[RateKey]) -> float:
        """Seconds between calls on KEYS in the long run (the slowest key's interval)."""
        return max([0.0, *(r.interval for k in keys if (r := self.rule(k)) is not None)])

    def shared_spacing(self, keys: Iterable[RateKey]) -> float:
        """The fastest key's interval: the pace of the widest limit (a bot's, say) a call
        shares with others; 0 when a key has no limit."""
        return min([r.interval if (r := self.rule(k)) is not None else 0.0 for k in keys] or [0.0])

    def _window(self, key: RateKey) -> _Window:
        window = self._windows.get(key)
        if window is None:
            rule = self.rule(key)
            if rule is None or rule.interval <= 0:
                window = _Window(limit=1, window=0.0)
            else:
                window = _Window(limit=rule.limit, window=rule.window)
            self._windows[key] = window
        return window

    def free_at(self, keys: Iterable[RateKey]) -> float:
        """The monotonic time at which a call on every key may start (a lower bound while a
        key waits for calls in flight to be answered)."""
        now = self._clock()
        at = now
        for key in keys:
            window = self._windows.get(key)
            if window is not None:
                at = max(at, window.free_at(now))
        return at

    def full(self, keys: Iterable[RateKey]) -> dict[RateKey, float]:
        """The keys without a free slot now, with the time each frees (lower bounds while
        calls are in flight)."""
        now = self._clock()
        found = {}
        for key in keys:
            window = self._windows.get(key)
            if window is not None and (at := window.free_at(now)) > now:
                found[key] = at
        return found

    def frees_at(self, key: RateKey, now: float) -> float | None:
        """When KEY frees if it has no free slot at NOW (`full` for one key, without its
        dict), else None. The time is a lower bound that never moves earlier: a call in
        flight is answered no sooner than now, a 429 only blocks longer, and the answers
        that leave the window are the ones no bound was taken from."""
        window = self._windows.get(key)
        if window is None:
            return None
        at = window.free_at(now)
        return at if at > now else None

    def ready_in(self, keys: Iterable[RateKey]) -> float:
        """Seconds until a call on every key may start."""
        keys = tuple(keys)
        return self.free_at(keys) - self._clock()

    def acquire(self, keys: Iterable[RateKey]) -> Permit | None:
        """A permit for one call now on every key, or None (taking nothing) when a key is
        full or blocked."""
        keys = tuple(keys)
        now = self._clock()
        windows = [self._window(key) for key in keys]
        if any(window.free_at(now) > now for window in windows):
            return None
        for window in windows:
            window.in_flight += 1
        return Permit(keys)

    def release(self, permit: Permit) -> None:
        """The call was answered (or failed): its place in each window runs from now."""
        if permit.released:
            return
        permit.released = True
        now = self._clock()
        for key in permit.keys:
            window = self._window(key)
            window.in_flight = max(0, window.in_flight - 1)
            if window.window > 0:
                window.answered.append(now)
        if len(self._windows) > 10_000:
            self._prune(now)

    def penalize(self, keys: Iterable[RateKey], seconds: float) -> None:
        """The provider answered 429: no call on these keys for SECONDS."""
        until = self._clock() + max(0.0, seconds)
        for key in keys:
            window = self._window(key)
            window.blocked_until = max(window.blocked_until, until)

    def _prune(self, now: float) -> None:
        for key in [k for k, w in self._windows.items() if w.idle(now)]:
            del self._windows[key]
