"""A small in-memory cache of lookups that every authenticated request makes (token → owner, user → teams).

Why not a plain dict with timestamps: under load the entry of a busy credential expires while dozens of requests
are in flight, and every one of them then missed at once and queried (and the token's ``last_used_at`` touch
became dozens of write transactions): a p99 spike every few seconds. Here concurrent misses of one key share one
lookup (single flight), so an expiry costs one query whatever the concurrency.

* ``generation`` — a change that ends cached entries (a revoked token, a removed member) bumps the caller's
  counter; a lookup that began before the bump is answered but not cached, and entries of an older generation
  are misses.
* ``cacheable`` — whether a loaded value may be kept (unknown tokens are never cached: a guess must not linger).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class TtlCache(Generic[V]):
    def __init__(self, seconds: float, size: int) -> None:
        self.seconds = seconds
        self.size = size
        self._entries: dict[Hashable, tuple[float, int, V]] = {}
        self._inflight: dict[Hashable, asyncio.Future[V]] = {}

    def clear(self) -> None:
        self._entries.clear()

    async def get(
        self,
        key: Hashable,
        load: Callable[[], Awaitable[V]],
        *,
        generation: int = 0,
        cacheable: Callable[[V], bool] = lambda _value: True,
    ) -> V:
        flight = (key, generation)  # a lookup begun before a bump is never joined after it
        while True:
            hit = self._entries.get(key)
            if hit is not None and hit[1] == generation and time.monotonic() - hit[0] < self.seconds:
                return hit[2]
            pending = self._inflight.get(flight)
            if pending is None:
                break
            try:
                # Shielded: this waiter cancelled (its client went away) must not cancel the others' lookup.
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not pending.cancelled() or (task is not None and task.cancelling()):
                    raise
                # The request doing the lookup was cancelled, not this one: look up again.
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._inflight[flight] = future
        started = time.monotonic()
        try:
            value = await load()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody else waited
            raise
        finally:
            self._inflight.pop(flight, None)
        future.set_result(value)
        if cacheable(value):
            if len(self._entries) >= self.size:
                self._entries.clear()
            self._entries[key] = (started, generation, value)
        return value
