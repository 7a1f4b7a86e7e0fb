"""TtlCache: concurrent misses of one key share one lookup; generations and uncacheable values are honoured; a
cancelled lookup does not fail the requests that were waiting on it."""

from __future__ import annotations

import asyncio

import pytest

from rivetr_core.ttlcache import TtlCache


class Loader:
    def __init__(self, value: object = "v", delay: float = 0.05) -> None:
        self.calls = 0
        self.value, self.delay = value, delay

    async def __call__(self) -> object:
        self.calls += 1
        await asyncio.sleep(self.delay)
        return self.value


async def test_fifty_concurrent_misses_make_one_lookup_then_hits_make_none() -> None:
    cache: TtlCache[object] = TtlCache(5, 10)
    load = Loader()
    results = await asyncio.gather(*(cache.get("k", load) for _ in range(50)))
    assert results == ["v"] * 50 and load.calls == 1
    assert await cache.get("k", load) == "v" and load.calls == 1


async def test_an_entry_expires_and_is_looked_up_again() -> None:
    cache: TtlCache[object] = TtlCache(0.05, 10)
    load = Loader(delay=0)
    await cache.get("k", load)
    await asyncio.sleep(0.08)
    await cache.get("k", load)
    assert load.calls == 2


async def test_a_newer_generation_misses_and_is_not_joined_to_an_older_lookup() -> None:
    cache: TtlCache[object] = TtlCache(5, 10)
    old, new = Loader("old"), Loader("new")
    first = asyncio.create_task(cache.get("k", old, generation=1))
    await asyncio.sleep(0)  # the generation-1 lookup is in flight
    assert await cache.get("k", new, generation=2) == "new"
    assert await first == "old"
    assert (old.calls, new.calls) == (1, 1)
    # The newer generation's entry stands (stored last); asking with it again is a hit, with the old one a miss.
    assert await cache.get("k", Loader("x"), generation=2) == "new"
    assert await cache.get("k", Loader("y", delay=0), generation=1) == "y"


async def test_uncacheable_values_are_shared_by_concurrent_callers_but_not_kept() -> None:
    cache: TtlCache[object] = TtlCache(5, 10)
    load = Loader(None)
    results = await asyncio.gather(
        *(cache.get("k", load, cacheable=lambda v: v is not None) for _ in range(5))
    )
    assert results == [None] * 5 and load.calls == 1
    await cache.get("k", load, cacheable=lambda v: v is not None)
    assert load.calls == 2


async def test_a_failed_lookup_fails_its_waiters_and_is_not_cached() -> None:
    cache: TtlCache[object] = TtlCache(5, 10)

    async def boom() -> object:
        await asyncio.sleep(0.02)
        raise RuntimeError("db down")

    outcomes = await asyncio.gather(*(cache.get("k", boom) for _ in range(3)), return_exceptions=True)
    assert all(isinstance(o, RuntimeError) for o in outcomes)
    assert await cache.get("k", Loader("back", delay=0)) == "back"


async def test_the_looking_up_request_cancelled_leaves_its_waiters_to_look_up_themselves() -> None:
    cache: TtlCache[object] = TtlCache(5, 10)
    slow = Loader("slow", delay=10)
    leader = asyncio.create_task(cache.get("k", slow))
    await asyncio.sleep(0)
    waiter = asyncio.create_task(cache.get("k", Loader("own", delay=0)))
    await asyncio.sleep(0.01)
    leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leader
    assert await asyncio.wait_for(waiter, 2) == "own"


async def test_a_cancelled_waiter_does_not_cancel_the_lookup() -> None:
    cache: TtlCache[object] = TtlCache(5, 10)
    load = Loader(delay=0.05)
    leader = asyncio.create_task(cache.get("k", load))
    await asyncio.sleep(0)
    waiter = asyncio.create_task(cache.get("k", load))
    await asyncio.sleep(0.01)
    waiter.cancel()
    assert await leader == "v" and load.calls == 1
