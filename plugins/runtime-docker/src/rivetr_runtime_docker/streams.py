"""Bridge a blocking iterator (a docker SDK stream) into an async iterator without blocking the event loop.

Each stream gets its own daemon thread rather than a slot in an executor: a followed log or a long build
holds its thread for minutes, and a handful of them would otherwise starve every other engine call.
The queue is bounded, so a slow consumer slows the reader instead of buffering a whole log in memory.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


class StreamHandle:
    """Lets the consumer side stop the producer thread: closers run once (e.g. shut the HTTP socket down,
    which wakes a thread blocked in ``recv``)."""

    def __init__(self) -> None:
        self.cancelled = threading.Event()
        self._closers: list[Callable[[], Any]] = []
        self._lock = threading.Lock()

    def on_cancel(self, closer: Callable[[], Any]) -> None:
        with self._lock:
            if not self.cancelled.is_set():
                self._closers.append(closer)
                return
        _quietly(closer)

    def cancel(self) -> None:
        with self._lock:
            if self.cancelled.is_set():
                return
            self.cancelled.set()
            closers, self._closers = self._closers, []
        for closer in closers:
            _quietly(closer)


def _quietly(fn: Callable[[], Any]) -> None:
    try:
        fn()
    except Exception:  # closing a socket that is already gone is fine
        pass


async def iterate_in_thread(
    produce: Callable[[StreamHandle], Iterator[T]],
    translate: Callable[[BaseException], BaseException],
    *,
    name: str = "rivetr-stream",
    maxsize: int = 512,
) -> AsyncIterator[T]:
    """Run ``produce(handle)`` in a thread and yield its items. Exceptions raised by the producer are passed
    through ``translate`` (engine errors → Rivetr errors) and re-raised here. Leaving the ``async for`` early
    (break, cancellation, aclose) cancels the handle, so the thread ends too."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(maxsize)
    handle = StreamHandle()

    def put(kind: str, value: Any) -> bool:
        try:
            future = asyncio.run_coroutine_threadsafe(queue.put((kind, value)), loop)
        except RuntimeError:  # loop closed under us
            return False
        while True:
            try:
                future.result(timeout=0.5)
                return True
            except concurrent.futures.TimeoutError:
                if handle.cancelled.is_set():
                    future.cancel()
                    return False
            except (concurrent.futures.CancelledError, RuntimeError):
                return False

    def worker() -> None:
        try:
            for item in produce(handle):
                if handle.cancelled.is_set() or not put("item", item):
                    return
        except BaseException as exc:
            if not handle.cancelled.is_set():
                put("error", exc)
            return
        put("done", None)

    thread = threading.Thread(target=worker, name=name, daemon=True)
    thread.start()
    try:
        while True:
            kind, value = await queue.get()
            if kind == "item":
                yield value
            elif kind == "error":
                translated = translate(value)
                if translated is value:
                    raise value
                raise translated from value
            else:
                return
    finally:
        handle.cancel()
