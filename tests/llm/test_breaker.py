"""The circuit breaker on its own: trips, cool-down, exactly one probe, closes or re-opens."""

from __future__ import annotations

from core.llm.breaker import CircuitBreaker
from tests.llm import FakeClock


def test_it_opens_after_the_threshold_of_consecutive_failures() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, cool_down=30, clock=clock)

    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state == "closed" and breaker.try_acquire()
    breaker.record_failure()

    assert breaker.state == "open"
    assert not breaker.try_acquire()


def test_a_success_resets_the_count() -> None:
    breaker = CircuitBreaker(failure_threshold=2, cool_down=30, clock=FakeClock())

    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()

    assert breaker.state == "closed"
    assert breaker.consecutive_failures == 1


def test_after_the_cool_down_exactly_one_probe_goes_out_and_its_success_closes() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, cool_down=30, clock=clock)
    breaker.record_failure()

    clock.advance(29.9)
    assert not breaker.try_acquire()
    clock.advance(0.1)
    assert breaker.state == "half_open"
    assert breaker.try_acquire()  # the probe
    assert not breaker.try_acquire()  # nobody else while it is out
    assert not breaker.try_acquire()

    breaker.record_success()
    assert breaker.state == "closed"
    assert breaker.try_acquire() and breaker.try_acquire()


def test_a_failed_probe_opens_it_for_another_cool_down() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, cool_down=30, clock=clock)
    for _ in range(3):
        breaker.record_failure()
    clock.advance(30)
    assert breaker.try_acquire()

    breaker.record_failure()  # one failure is enough once it has tripped

    assert breaker.state == "open"
    clock.advance(29)
    assert not breaker.try_acquire()
    clock.advance(1)
    assert breaker.try_acquire()


def test_an_abandoned_probe_frees_the_slot() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, cool_down=5, clock=clock)
    breaker.record_failure()
    clock.advance(5)
    assert breaker.try_acquire()

    breaker.release()

    assert breaker.try_acquire()


def test_hold_keeps_calls_away_until_the_given_time_without_counting_a_failure() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, cool_down=5, clock=clock)

    breaker.hold(clock.now + 120)

    assert breaker.consecutive_failures == 0
    clock.advance(119)
    assert breaker.state == "open" and not breaker.try_acquire()
    clock.advance(1)
    assert breaker.try_acquire()
    breaker.record_success()
    assert breaker.state == "closed"
