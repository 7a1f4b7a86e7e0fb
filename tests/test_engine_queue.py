"""The deployment queue's bookkeeping (engine/queue.py) with plain coroutines: no database, no engine."""

from __future__ import annotations

import asyncio
from typing import Any

from rivetr_core.engine.queue import DeploymentQueue


def _spawn(coro: Any, name: str) -> asyncio.Task[Any]:
    return asyncio.get_running_loop().create_task(coro, name=name)


async def test_a_superseded_deployment_stops_waiting_at_once_not_after_its_slow_drop() -> None:
    """``waiting`` is what a later request compares against (engine/recovery.py ``run_adopted``): a deployment
    superseded a moment ago must not still be listed while its ``on_dropped`` (a database write) runs."""
    queue = DeploymentQueue(1, _spawn)
    dropping = asyncio.Event()
    release = asyncio.Event()
    ran: list[str] = []
    dropped: list[tuple[str, str | None]] = []

    def run(dep: str) -> Any:
        async def go() -> None:
            ran.append(dep)

        return go

    def on_dropped(dep: str) -> Any:
        async def go(reason: str | None) -> None:
            dropping.set()
            await release.wait()  # a slow write
            dropped.append((dep, reason))

        return go

    async with queue.app_lock("app"):  # a pipeline of the app runs: new ones wait
        assert queue.submit("a", "app", run("a"), on_dropped("a")) == []
        await asyncio.sleep(0)
        assert queue.waiting("app") == ["a"]
        assert queue.submit("b", "app", run("b"), on_dropped("b")) == ["a"]
        assert queue.waiting("app") == ["b"]
        await asyncio.wait_for(dropping.wait(), 5)
        assert queue.waiting("app") == ["b"]  # a's drop is still in progress
        assert queue.cancel("b", "cancelled")
        assert queue.waiting("app") == []
        release.set()
    await asyncio.wait_for(asyncio.gather(queue.wait("a", 5), queue.wait("b", 5)), 10)
    assert sorted(dropped) == [("a", "superseded"), ("b", "cancelled")]
    assert ran == []
    assert not queue.cancel("a")  # a finished task cannot be cancelled again
