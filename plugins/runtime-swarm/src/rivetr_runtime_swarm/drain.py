"""A drain through Rivetr moves the node's tasks start-first instead of leaving them to swarm.

What swarm itself does with a drained node's task (measured on the two-node test swarm, and so in swarmkit's
restart supervisor): with restart condition ``none`` (an app's restart policy ``no``: Rivetr's crash watcher
restarts it, within its budget) the task is shut down and never started anywhere; with ``on-failure`` or ``any``
a replacement is created at once but started only once the old task has stopped (``DelayStart`` waits for it),
so a single-replica app is down from the old task's stop to the new one's start; and with those two conditions
swarm also restarts the app's own exits (code 3: again and again), which is not what ``restart: no`` means. So
the service keeps condition ``none`` and :meth:`SwarmDrains.drain_node` moves the tasks first:

1. the node is set to ``pause`` (its tasks keep running; no new task lands there);
2. each service with a running task on it runs one task more (``Replicas`` + 1; the task template is unchanged,
   so swarm replaces nothing) and is labelled :data:`~.servicespec.LEAVING_LABEL`; the new task is placed on
   another node and awaited until it runs (healthy, when the app has a health check);
3. ``before_stop()`` (core: the routes follow the services' new tasks, :func:`rivetr_core.engine.moved.follow_all`);
4. the node is set to ``drain``: swarm stops the old tasks (condition ``none``: not restarted anywhere);
5. once the old tasks stopped, each service goes back to its replicas; swarm removes the stopped slot first.

No crash, no restart of the budget, and the proxy never routes to a stopped task. A task whose move cannot
happen (no other node takes it within :data:`MOVE_TIMEOUT`) is stopped by the drain as swarm would.

A drain Rivetr does not make (``docker node update``) or a node that goes down cannot be start-first: the task is
gone (or unreachable) first. Such a service is reported with status ``evicted`` (:func:`evicted`) and the crash
watcher calls ``start``, which forces a new task onto another node at once: still a move (no crash event, no
restart of the budget, the same service), with the app down from the old task's stop to the new one's start.
"""

from __future__ import annotations

import builtins
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

# The docker runtime first: it imports requests its own way (without charset_normalizer) before the SDK.
from rivetr_runtime_docker.engine import EngineError

# isort: split
import docker.errors

from rivetr_core.contract.nodes import NodeInfo

from . import servicespec as ss
from .nodes import unplaced_reason

if TYPE_CHECKING:
    import docker

#: Seconds a drain waits for a moved task to run on another node (a health check included).
MOVE_TIMEOUT = 60.0
#: Seconds it waits for the drained node's old tasks to stop before the services go back to their replicas.
STOP_TIMEOUT = 30.0


def running_on(task: Mapping[str, Any], node_id: str) -> bool:
    status = str((task.get("Status") or {}).get("State") or "")
    return task.get("NodeID") == node_id and task.get("DesiredState") == "running" and status == "running"


def moved_task(tasks: builtins.list[dict[str, Any]], node_id: str) -> dict[str, Any] | None:
    """A task of the service running on another node than ``node_id`` (the one the move started)."""
    for task in tasks:
        if task.get("NodeID") not in (None, "", node_id) and running_on(task, str(task.get("NodeID"))):
            return task
    return None


def evicted(tasks: builtins.list[dict[str, Any]]) -> bool:
    """The orchestrator stopped the service's task because of its node (a drain Rivetr did not make, or the node
    went down) and, with restart condition ``none``, started none in its place: no task is running or meant to,
    and the newest one is being shut down without having exited by itself (``complete``/``failed`` are the
    process's own exit, a crash). ``start`` places a new task on another node (a move, not a crash restart)."""
    if not tasks or any(t.get("DesiredState") in ("ready", "running") for t in tasks):
        return False
    newest = max(tasks, key=ss.task_time)
    state = str((newest.get("Status") or {}).get("State") or "")
    return newest.get("DesiredState") == "shutdown" and state not in ("complete", "failed", "rejected")


class SwarmDrains:
    """The drain part of the swarm runtime (mixed into :class:`~.runtime.SwarmRuntime`)."""

    _evicted = staticmethod(evicted)

    if TYPE_CHECKING:

        def _api(self) -> docker.APIClient: ...
        async def _call(self, fn: Any, *args: Any, **kw: Any) -> Any: ...
        def _service(self, service_id: str) -> dict[str, Any]: ...
        def _tasks(self, service_id: str) -> builtins.list[dict[str, Any]]: ...
        def _update(self, service: Mapping[str, Any], spec: Mapping[str, Any]) -> None: ...
        def _inspect_node(self, node_id: str) -> dict[str, Any]: ...
        def _update_node(
            self, node_id: str, availability: str | None, labels: Mapping[str, str] | None
        ) -> NodeInfo: ...

    def _leaving_services(self, node_id: str) -> builtins.list[str]:
        """Rivetr's services (those it made: they carry its image label) with a running task on ``node_id``."""
        running = self._api().tasks(filters={"node": node_id, "desired-state": "running"}) or []
        ids = {str(t["ServiceID"]) for t in running if running_on(t, node_id)}
        out = []
        for service in self._api().services() or []:
            labels = (service.get("Spec") or {}).get("Labels") or {}
            if service["ID"] in ids and ss.IMAGE_LABEL in labels and ss.replicas_of(service) > 0:
                out.append(str(service["ID"]))
        return out

    def _scale(self, service_id: str, by: int, leaving: str | None) -> None:
        """Replicas ``+by`` and the leaving label set (``leaving``) or removed; the task template is left as it
        is, so swarm replaces no task. Retried once when the service changed meanwhile."""
        for attempt in range(2):
            service = self._service(service_id)
            spec = dict(service["Spec"])
            labels = dict(spec.get("Labels") or {})
            if leaving is None:
                labels.pop(ss.LEAVING_LABEL, None)
            else:
                labels[ss.LEAVING_LABEL] = leaving
            spec["Labels"] = labels
            spec["Mode"] = {"Replicated": {"Replicas": max(0, ss.replicas_of(service) + by)}}
            try:
                self._update(service, spec)
                return
            except docker.errors.APIError as exc:
                if attempt or "update out of sequence" not in str(exc.explanation or exc):
                    raise

    def _start_elsewhere(self, node_id: str) -> builtins.list[str]:
        """Steps 1-2: pause the node, start one more task of each of its services, wait until each runs on
        another node. Returns the services scaled up (also those whose new task never ran)."""
        self._update_node(node_id, "pause", None)
        moving = self._leaving_services(node_id)
        scaled: builtins.list[str] = []
        for service_id in moving:
            with contextlib.suppress(docker.errors.NotFound):  # removed meanwhile
                self._scale(service_id, 1, node_id)
                scaled.append(service_id)
        waiting = set(scaled)
        deadline = time.monotonic() + MOVE_TIMEOUT
        while waiting and time.monotonic() < deadline:
            for service_id in builtins.list(waiting):
                try:
                    tasks = self._tasks(service_id)
                except docker.errors.NotFound:
                    waiting.discard(service_id)
                    continue
                if moved_task(tasks, node_id) is not None or any(unplaced_reason(t) for t in tasks):
                    waiting.discard(service_id)  # moved, or no other node can take it: the drain stops it
            time.sleep(0.1)
        return scaled

    def _back_to_replicas(self, scaled: builtins.list[str], node_id: str) -> None:
        """Step 5: once the drained node's old tasks stopped, each service back to its replicas."""
        deadline = time.monotonic() + STOP_TIMEOUT
        for service_id in scaled:
            try:
                while time.monotonic() < deadline:
                    on_node = [t for t in self._tasks(service_id) if t.get("NodeID") == node_id]
                    if not any((t.get("Status") or {}).get("State") == "running" for t in on_node):
                        break
                    time.sleep(0.1)
                self._scale(service_id, -1, None)
            except docker.errors.NotFound:
                continue

    async def drain_node(
        self,
        node_id: str,
        *,
        labels: Mapping[str, str] | None = None,
        before_stop: Callable[[], Awaitable[Any]] | None = None,
    ) -> NodeInfo:
        """Drain ``node_id`` (optionally replacing its labels) moving Rivetr's tasks first: each starts on
        another node and ``before_stop()`` runs (the routes follow) before the node's tasks stop. Returns the
        node afterwards."""
        node = await self._call(self._inspect_node, node_id)
        node_id = str(node["ID"])
        scaled: builtins.list[str] = await self._call(self._start_elsewhere, node_id)
        try:
            if before_stop is not None and scaled:
                await before_stop()
            info: NodeInfo = await self._call(self._update_node, node_id, "drain", labels)
        finally:
            try:
                await self._call(self._back_to_replicas, scaled, node_id)
            except EngineError:
                raise
            except Exception as exc:  # the drain happened; a service left one task over is said, not hidden
                raise EngineError(
                    f"the node was drained but its moved services did not go back to their replicas: {exc}",
                    details={"id": node_id, "services": scaled},
                ) from exc
        return info
