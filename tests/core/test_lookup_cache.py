"""The ingest path's lookup cache: concurrent misses share one load."""

from __future__ import annotations

import asyncio

import pytest

from core.team.directory import TTLCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_concurrent_misses_share_one_load_and_the_value_is_cached() -> None:
    cache = TTLCache(ttl=5.0, clock=Clock())
    release = asyncio.Event()
    loads = 0

    async def load() -> str:
        nonlocal loads
        loads += 1
        await release.wait()
        return "ws-1"

    waiters = [asyncio.create_task(cache.get_or_load("team", load)) for _ in range(20)]
    await asyncio.sleep(0)  # every waiter has asked before the load answers
    release.set()
    assert await asyncio.gather(*waiters) == ["ws-1"] * 20
    assert loads == 1
    assert await cache.get_or_load("team", load) == "ws-1"
    assert loads == 1


async def test_an_expired_entry_is_loaded_again() -> None:
    clock = Clock()
    cache = TTLCache(ttl=5.0, clock=clock)
    values = iter(["old", "new"])

    async def load() -> str:
        return next(values)

    assert await cache.get_or_load("k", load) == "old"
    clock.now = 6.0
    assert await cache.get_or_load("k", load) == "new"


async def test_none_is_not_cached_and_a_failure_reaches_every_waiter() -> None:
    cache = TTLCache(clock=Clock())
    calls = 0

    async def nothing() -> None:
        nonlocal calls
        calls += 1

    assert await cache.get_or_load("k", nothing) is None
    assert await cache.get_or_load("k", nothing) is None
    assert calls == 2

    release = asyncio.Event()

    async def broken() -> str:
        await release.wait()
        raise LookupError("database down")

    waiters = [asyncio.create_task(cache.get_or_load("b", broken)) for _ in range(3)]
    await asyncio.sleep(0)
    release.set()
    for result in await asyncio.gather(*waiters, return_exceptions=True):
        assert isinstance(result, LookupError)

    async def fine() -> str:
        return "back"

    assert await cache.get_or_load("b", fine) == "back"  # the failure was not remembered


async def test_one_waiter_going_away_does_not_cancel_the_others() -> None:
    cache = TTLCache(clock=Clock())
    release = asyncio.Event()

    async def load() -> str:
        await release.wait()
        return "v"

    first = asyncio.create_task(cache.get_or_load("k", load))
    second = asyncio.create_task(cache.get_or_load("k", load))
    await asyncio.sleep(0)
    first.cancel()
    release.set()
    assert await second == "v"
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_a_load_begun_before_clear_is_not_cached() -> None:
    cache = TTLCache(clock=Clock())
    release = asyncio.Event()
    values = iter(["before removal", "after removal"])

    async def load() -> str:
        value = next(values)
        if value == "before removal":
            await release.wait()
        return value

    stale = asyncio.create_task(cache.get_or_load("member", load))
    await asyncio.sleep(0)
    cache.clear()  # e.g. the member was removed while the lookup ran
    assert await cache.get_or_load("member", load) == "after removal"
    release.set()
    assert await stale == "before removal"
    assert await cache.get_or_load("member", load) == "after removal"
