"""The rate limiter: one slot per interval per key, the latest key decides, 429s push back."""

from __future__ import annotations

import pytest

from delivery.ratelimit import RULES, RateLimiter, Rule


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_calls_on_one_key_are_spaced_by_its_interval() -> None:
    clock = Clock()
    limiter = RateLimiter({"chat": Rule(1.0)}, clock=clock)
    key = [("chat", "C1")]
    waits = [limiter.reserve(key, max_wait=10) for _ in range(4)]
    assert waits == [0.0, 1.0, 2.0, 3.0]
    # Other conversations are not held up.
    assert limiter.reserve([("chat", "C2")], max_wait=10) == 0.0


def test_a_slot_further_off_than_max_wait_is_not_reserved() -> None:
    clock = Clock()
    limiter = RateLimiter({"chat": Rule(1.0)}, clock=clock)
    key = [("chat", "C1")]
    assert limiter.reserve(key, max_wait=1) == 0.0
    assert limiter.reserve(key, max_wait=1) == 1.0
    assert limiter.reserve(key, max_wait=1) is None
    assert limiter.ready_in(key) == 2.0
    clock.now += 2
    assert limiter.reserve(key, max_wait=1) == 0.0


def test_the_slowest_key_decides_and_all_keys_are_taken() -> None:
    clock = Clock()
    limiter = RateLimiter({"chat": Rule(1.0), "bot": Rule(0.1)}, clock=clock)
    assert limiter.reserve([("chat", "A"), ("bot", "*")], max_wait=5) == 0.0
    # Chat B is free, but the bot-wide slot is 0.1 s away.
    assert limiter.reserve([("chat", "B"), ("bot", "*")], max_wait=5) == pytest.approx(0.1)
    assert limiter.reserve([("chat", "A"), ("bot", "*")], max_wait=5) == 1.0


def test_a_429_pushes_the_keys_back_by_retry_after() -> None:
    clock = Clock()
    limiter = RateLimiter({"chat": Rule(1.0)}, clock=clock)
    key = [("chat", "C1")]
    limiter.reserve(key, max_wait=5)
    limiter.penalize(key, 30)
    assert limiter.ready_in(key) == 30.0
    assert limiter.reserve(key, max_wait=5) is None


def test_the_documented_provider_limits_are_in_the_rules() -> None:
    assert RULES["slack.channel"].interval == 1.0
    assert RULES["telegram.chat"].interval == 1.0
    assert RULES["telegram.group"].interval == 3.0  # 20 per minute
    assert abs(RULES["telegram.bot"].interval - 1 / 30) < 1e-9


def test_old_keys_are_pruned() -> None:
    clock = Clock()
    limiter = RateLimiter({"chat": Rule(0.001)}, clock=clock)
    for n in range(10_001):
        limiter.reserve([("chat", str(n))], max_wait=1)
        clock.now += 0.01
    assert len(limiter._next) < 10_001
