"""The rate limiter: LIMIT calls per sliding window per key, counted from each call's answer,
the busiest key decides, 429s push back."""

from __future__ import annotations

import heapq

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from delivery.ratelimit import RULES, Permit, RateLimiter, Rule


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_call_per_second_counts_from_the_answer() -> None:
    clock = Clock()
    limiter = RateLimiter({"chat": Rule.per(1, 1.0)}, clock=clock)
    key = [("chat", "C1")]
    permit = limiter.acquire(key)
    assert permit is not None
    assert limiter.acquire(key) is None  # the first call is still in flight
    clock.now += 0.25
    limiter.release(permit)  # answered 0.25 s after it started
    assert limiter.ready_in(key) == 1.0
    clock.now += 0.999
    assert limiter.acquire(key) is None
    clock.now += 0.001
    assert limiter.acquire(key) is not None
    # Other conversations are not held up.
    assert limiter.acquire([("chat", "C2")]) is not None


def test_a_window_lets_a_burst_of_its_limit_through_then_waits() -> None:
    clock = Clock()
    limiter = RateLimiter({"bot": Rule.per(3, 1.0)}, clock=clock)
    key = [("bot", "b")]
    permits = [limiter.acquire(key) for _ in range(4)]
    assert permits[3] is None and all(permits[:3])
    for offset, permit in zip((0.1, 0.2, 0.3), permits[:3], strict=True):
        clock.now = 1000.0 + offset
        assert permit is not None
        limiter.release(permit)
    # The window frees one place per answer, one second after it.
    assert limiter.free_at(key) == pytest.approx(1001.1)
    clock.now = 1001.1
    assert limiter.acquire(key) is not None
    assert limiter.acquire(key) is None
    assert limiter.free_at(key) == pytest.approx(1001.2)


def test_the_busiest_key_decides_and_a_refusal_takes_nothing() -> None:
    clock = Clock()
    limiter = RateLimiter({"chat": Rule.per(1, 1.0), "bot": Rule.per(2, 1.0)}, clock=clock)
    first = limiter.acquire([("chat", "A"), ("bot", "*")])
    second = limiter.acquire([("chat", "B"), ("bot", "*")])
    assert first is not None and second is not None
    # The bot is full: chat C is free, but a call to it must wait, and takes no slot of C's.
    assert limiter.acquire([("chat", "C"), ("bot", "*")]) is None
    assert limiter.acquire([("chat", "C")]) is not None
    limiter.release(first)
    limiter.release(second)
    assert limiter.ready_in([("chat", "D"), ("bot", "*")]) == 1.0
    assert limiter.ready_in([("chat", "D")]) == 0.0


def test_a_429_blocks_the_keys_for_retry_after() -> None:
    clock = Clock()
    limiter = RateLimiter({"chat": Rule.per(1, 1.0)}, clock=clock)
    key = [("chat", "C1")]
    permit = limiter.acquire(key)
    assert permit is not None
    limiter.release(permit)
    limiter.penalize(key, 30)
    assert limiter.ready_in(key) == 30.0
    assert limiter.acquire(key) is None
    # Keys without a rule are held back too (email's account-wide 429).
    limiter.penalize([("email.account", "all")], 5)
    assert limiter.acquire([("email.account", "all")]) is None
    clock.now += 30
    assert limiter.acquire(key) is not None


def test_a_rule_of_zero_interval_limits_nothing() -> None:
    limiter = RateLimiter({"chat": Rule(0.0)}, clock=Clock())
    permits = [limiter.acquire([("chat", "C1")]) for _ in range(50)]
    assert all(permits)


def test_the_documented_provider_limits_are_in_the_rules() -> None:
    assert (RULES["slack.channel"].limit, RULES["slack.channel"].window) == (1, 1.0)
    assert (RULES["telegram.chat"].limit, RULES["telegram.chat"].window) == (1, 1.0)
    assert (RULES["telegram.group"].limit, RULES["telegram.group"].window) == (20, 60.0)
    assert RULES["telegram.group"].interval == 3.0
    assert RULES["telegram.bot"].limit == 30
    assert RULES["telegram.bot"].window == pytest.approx(1.0)
    assert RULES["twilio.from"].limit == 25


def test_keys_nobody_uses_any_more_are_pruned() -> None:
    clock = Clock()
    limiter = RateLimiter({"chat": Rule.per(1, 0.01)}, clock=clock)
    for n in range(10_001):
        permit = limiter.acquire([("chat", str(n))])
        assert permit is not None
        limiter.release(permit)
        clock.now += 0.01
    assert len(limiter._windows) < 10_001


def _simulate(
    limit: int, window: float, latencies: list[tuple[float, float]], callers: int
) -> tuple[list[float], float]:
    """CALLERS clients share one key, each calling as soon as the limiter lets it; call i
    reaches the provider LATENCIES[i][0] after it starts and is answered LATENCIES[i][1]
    later. Returns the arrival times and when the last call was answered."""
    clock = Clock()
    limiter = RateLimiter({"bot": Rule.per(limit, window)}, clock=clock)
    key = [("bot", "b")]
    arrivals: list[float] = []
    events: list[tuple[float, int, int]] = [(clock.now, n, -1) for n in range(callers)]
    permits = {}
    pending = iter(range(len(latencies)))
    last = clock.now
    while events:
        clock.now, caller, call = heapq.heappop(events)
        if call >= 0:  # this caller's call was answered
            limiter.release(permits.pop(call))
            last = clock.now
        permit = limiter.acquire(key)
        if permit is None:
            heapq.heappush(events, (limiter.free_at(key), caller, -1))
            continue
        call = next(pending, -1)
        if call < 0:
            limiter.release(permit)
            continue
        permits[call] = permit
        to_provider, to_answer = latencies[call]
        arrivals.append(clock.now + to_provider)
        heapq.heappush(events, (clock.now + to_provider + to_answer, caller, call))
    return sorted(arrivals), last - 1000.0


@settings(max_examples=60, deadline=None)
@given(
    limit=st.integers(1, 6),
    latencies=st.lists(st.tuples(st.floats(0, 0.4), st.floats(0, 0.4)), min_size=1, max_size=60),
    callers=st.integers(1, 8),
)
def test_no_window_at_the_provider_sees_more_than_the_limit(
    limit: int, latencies: list[tuple[float, float]], callers: int
) -> None:
    arrivals, _ = _simulate(limit, 1.0, latencies, callers)
    assert len(arrivals) == len(latencies)
    for index in range(len(arrivals) - limit):
        # Any LIMIT + 1 consecutive arrivals span at least the window.
        assert arrivals[index + limit] - arrivals[index] >= 1.0 - 1e-9


def test_with_instant_answers_the_limit_is_used_in_full() -> None:
    # 90 calls at 30 per second: the last may start 2 s after the first, not later.
    _, finished = _simulate(30, 1.0, [(0.0, 0.0)] * 90, callers=40)
    assert finished == pytest.approx(2.0)


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["acquire", "release", "penalize", "wait"]),
            st.integers(0, 2),  # which key
            st.floats(0, 1.5),  # seconds: of a wait, of a 429's Retry-After
        ),
        max_size=80,
    )
)
def test_a_full_key_never_frees_before_the_time_it_was_said_to(
    steps: list[tuple[str, int, float]],
) -> None:
    """The outbox passes over a call waiting on a full key until the time `frees_at` gave
    (a dispatch round does not ask again before): whatever calls start, are answered or meet
    a 429 meanwhile, the key must not have a free slot before that time."""
    clock = Clock()
    limiter = RateLimiter({"bot": Rule.per(3, 1.0), "chat": Rule.per(1, 1.0)}, clock=clock)
    keys = [("bot", "b"), ("chat", "c1"), ("chat", "c2")]
    permits: list[tuple[int, Permit]] = []
    said: dict[int, float] = {}  # key -> the latest time it was said to free
    for action, which, seconds in steps:
        if action == "acquire":
            permit = limiter.acquire([keys[which]])
            if permit is not None:
                assert clock.now >= said.get(which, -1.0)
                permits.append((which, permit))
        elif action == "release" and permits:
            limiter.release(permits.pop(which % len(permits))[1])
        elif action == "penalize":
            limiter.penalize([keys[which]], seconds)
        else:
            clock.now += seconds
        for index, key in enumerate(keys):
            at = limiter.frees_at(key, clock.now)
            if at is None:
                assert clock.now >= said.get(index, -1.0)
                assert limiter.full([key]) == {}
            else:
                assert at >= said.get(index, -1.0)
                assert limiter.full([key]) == {key: at}
                said[index] = at
