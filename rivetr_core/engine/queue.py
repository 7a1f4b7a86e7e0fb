"""Scheduling of deployments: one at a time per app, a global cap, supersede and cancellation.

* Per-app single flight: an ``asyncio.Lock`` per app (FIFO), so two pipelines of one app never overlap.
* Global cap: a semaphore of ``[runtime] max_concurrent_deployments`` slots, taken after the app lock, so a
  queued deployment of a busy app never holds a slot another app could use.
* Supersede: a new request for an app cancels that app's deployments still *waiting* (not the one running).
* Cancellation: :meth:`DeploymentQueue.cancel` cancels the task at whatever ``await`` it is in; the reason is
  kept so the owner can tell a user cancel (``cancelled``), a supersede (``superseded``) and a shutdown
  (no reason: ``failed`` / interrupted) apart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

Spawn = Callable[[Coroutine[Any, Any, Any], str], "asyncio.Task[Any]"]


class DeploymentQueue:
    def __init__(self, max_concurrent: int, spawn: Spawn) -> None:
        self.max_concurrent = max_concurrent
        self._slots = asyncio.Semaphore(max_concurrent)
        self._spawn = spawn
        self._app_locks: dict[str, asyncio.Lock] = {}
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._waiting: dict[str, list[str]] = {}  # app id → deployment ids not started yet, oldest first
        self._running: dict[str, str] = {}  # deployment id → app id
        self._reasons: dict[str, str] = {}

    # ------------------------------------------------------------------------------------------- queries
    def is_running(self, deployment_id: str) -> bool:
        return deployment_id in self._running

    def running_count(self) -> int:
        return len(self._running)

    def waiting(self, app_id: str) -> list[str]:
        return list(self._waiting.get(app_id, ()))

    def reason(self, deployment_id: str) -> str | None:
        """Why a deployment's task was cancelled (``cancelled``/``superseded``); None for a shutdown."""
        return self._reasons.get(deployment_id)

    def app_lock(self, app_id: str) -> asyncio.Lock:
        return self._app_locks.setdefault(app_id, asyncio.Lock())

    # ------------------------------------------------------------------------------------------- control
    def submit(
        self,
        deployment_id: str,
        app_id: str,
        run: Callable[[], Awaitable[None]],
        on_dropped: Callable[[str | None], Awaitable[None]],
    ) -> list[str]:
        """Queue a pipeline run. Returns the ids of the app's waiting deployments it supersedes.

        ``run`` is awaited once the app lock and a global slot are held; ``on_dropped(reason)`` is awaited
        instead when the deployment is cancelled before ``run`` started.
        """
        superseded = self.waiting(app_id)
        for other in superseded:
            self.cancel(other, "superseded")
        self._waiting.setdefault(app_id, []).append(deployment_id)
        self._tasks[deployment_id] = self._spawn(
            self._run(deployment_id, app_id, run, on_dropped), f"deployment-{deployment_id}"
        )
        return superseded

    def cancel(self, deployment_id: str, reason: str = "cancelled") -> bool:
        task = self._tasks.get(deployment_id)
        if task is None or task.done():
            return False
        self._reasons.setdefault(deployment_id, reason)
        task.cancel()
        if deployment_id not in self._running:
            # No longer waiting from now on, not only once its task has run its ``on_dropped`` (a database
            # write): a deployment submitted meanwhile would otherwise see it still waiting and be superseded.
            for app_id, waiting in list(self._waiting.items()):
                if deployment_id in waiting:
                    self._remove_waiting(app_id, deployment_id)
        return True

    async def wait(self, deployment_id: str, timeout: float | None = None) -> None:
        task = self._tasks.get(deployment_id)
        if task is not None:
            await asyncio.wait([task], timeout=timeout)

    async def _run(
        self,
        deployment_id: str,
        app_id: str,
        run: Callable[[], Awaitable[None]],
        on_dropped: Callable[[str | None], Awaitable[None]],
    ) -> None:
        started = False
        try:
            async with self.app_lock(app_id), self._slots:
                self._remove_waiting(app_id, deployment_id)
                self._running[deployment_id] = app_id
                started = True
                await run()
        except asyncio.CancelledError:
            if not started:
                await on_dropped(self._reasons.get(deployment_id))
            else:
                raise
        finally:
            self._remove_waiting(app_id, deployment_id)
            self._running.pop(deployment_id, None)
            self._tasks.pop(deployment_id, None)
            self._reasons.pop(deployment_id, None)

    def _remove_waiting(self, app_id: str, deployment_id: str) -> None:
        waiting = self._waiting.get(app_id)
        if waiting and deployment_id in waiting:
            waiting.remove(deployment_id)
            if not waiting:
                self._waiting.pop(app_id, None)
