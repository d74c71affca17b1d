"""Outbound rate limits, per provider and per conversation, all in this one place.

Each provider call a reply turns into (an `Op`) names the limits it counts against as
`(rule, id)` keys, e.g. `("slack.channel", "C123")`. A key allows one call per `interval`
seconds; a call waits for the latest of its keys. The outbox reserves the slot before it calls
the provider, so under normal load no call provokes a 429; a 429 that happens anyway (another
client on the same token, a limit lower than documented) pushes the key's next slot back by
the provider's Retry-After.

The figures are the providers' documented limits:
- Slack `chat.postMessage`: 1 message per second per channel ("special" tier); `files.*`
  uploads are Tier 2 (20 per minute) per workspace.
- Telegram: about 1 message per second in one chat, 30 per second across chats for one bot,
  20 per minute in one group (Bot FAQ, "My bot is hitting limits").
- Twilio: a long code sends 1 message segment per second (excess is queued by Twilio, but the
  queue costs latency); we keep 1 per second per recipient and the account's default API
  concurrency per sender.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

RateKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Rule:
    interval: float  # seconds between two calls on one key
    why: str = ""


RULES: Mapping[str, Rule] = {
    "slack.channel": Rule(1.0, "chat.postMessage: 1 per second per channel"),
    "slack.files": Rule(3.0, "files upload: Tier 2, 20 per minute per workspace"),
    "telegram.chat": Rule(1.0, "about 1 message per second in one chat"),
    "telegram.group": Rule(3.0, "20 messages per minute in one group"),
    "telegram.bot": Rule(1 / 30, "30 messages per second across all chats"),
    "twilio.to": Rule(1.0, "1 message per second to one recipient"),
    "twilio.from": Rule(1 / 25, "default REST concurrency per sending number"),
}


class RateLimiter:
    """Slot reservation on monotonic time; one instance per gateway node."""

    def __init__(
        self,
        rules: Mapping[str, Rule] = RULES,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rules = dict(rules)
        self._clock = clock
        self._next: dict[RateKey, float] = {}

    def interval(self, key: RateKey) -> float:
        rule = self._rules.get(key[0])
        return rule.interval if rule is not None else 0.0

    def ready_in(self, keys: Iterable[RateKey]) -> float:
        """Seconds until every key has a free slot."""
        now = self._clock()
        return max([0.0, *(self._next.get(k, now) - now for k in keys)])

    def reserve(self, keys: Iterable[RateKey], *, max_wait: float) -> float | None:
        """Take the next slot on every key and return how long to wait for it, or None
        (reserving nothing) when that would be longer than MAX_WAIT."""
        keys = tuple(keys)
        now = self._clock()
        start = max([now, *(self._next.get(k, now) for k in keys)])
        wait = start - now
        if wait > max_wait:
            return None
        for key in keys:
            self._next[key] = start + self.interval(key)
        if len(self._next) > 10_000:
            self._prune(now)
        return wait

    def penalize(self, keys: Iterable[RateKey], seconds: float) -> None:
        """The provider answered 429: no call on these keys for SECONDS."""
        until = self._clock() + max(0.0, seconds)
        for key in keys:
            self._next[key] = max(self._next.get(key, until), until)

    def _prune(self, now: float) -> None:
        for key in [k for k, t in self._next.items() if t <= now]:
            del self._next[key]
