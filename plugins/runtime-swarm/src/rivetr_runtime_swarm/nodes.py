"""The swarm's nodes (:class:`rivetr_core.contract.nodes.ClusterRuntime`) and the placement failure a task the
scheduler cannot place is.

:class:`SwarmNodes` is mixed into :class:`~rivetr_runtime_swarm.runtime.SwarmRuntime`: it lists the nodes
(``GET /nodes`` plus one ``GET /tasks`` for the running task counts) and changes a node's availability and labels
(``POST /nodes/{id}/update``, which needs the node's current version: a concurrent change is retried once). A
listing also says whether each node's engine is reachable (:mod:`.nodeengines`).
"""

from __future__ import annotations

import builtins
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

# The docker runtime first: it imports requests its own way (without charset_normalizer) before the SDK.
from rivetr_runtime_docker.engine import EngineError

# isort: split
import docker.errors

from rivetr_core.contract import NotFound, ValidationFailed
from rivetr_core.contract.nodes import AVAILABILITIES, NodeInfo

from .nodeengines import LOCAL

if TYPE_CHECKING:
    import docker

    from .nodeengines import NodeEngines


#: What swarm writes in a pending task's ``Status.Err`` when no node satisfies its constraints (or none is
#: available): ``no suitable node (scheduling constraints not satisfied on 1 node)``.
NO_SUITABLE_NODE = "no suitable node"


class PlacementFailed(EngineError):
    """No node of the swarm can take the service's task: swarm would leave it pending for ever."""

    code = "no_suitable_node"
    status = 409


def unplaced_reason(task: Mapping[str, Any]) -> str | None:
    """Swarm's reason when it keeps ``task`` pending because no node fits it, else None."""
    status = task.get("Status") or {}
    reason = str(status.get("Err") or "")
    if str(status.get("State") or "") != "pending" or NO_SUITABLE_NODE not in reason:
        return None
    return reason


def placement_error(reason: str, constraints: builtins.list[str]) -> PlacementFailed:
    """The error naming the service's constraints for a task no node can take."""
    wanted = " and ".join(constraints) if constraints else "no placement constraints"
    return PlacementFailed(
        f"no node of the swarm can run the service: {reason} (placement: {wanted}); label a node to match "
        "(`rivetr nodes label NODE KEY=VALUE`), activate a drained one, or change the app's placement",
        details={"placement": list(constraints), "engine_message": reason},
    )


def constraints_of(service: Mapping[str, Any]) -> builtins.list[str]:
    task = (service.get("Spec") or {}).get("TaskTemplate") or {}
    return [str(c) for c in (task.get("Placement") or {}).get("Constraints") or []]


def node_info(node: Mapping[str, Any], running: int | None) -> NodeInfo:
    spec = node.get("Spec") or {}
    description = node.get("Description") or {}
    resources = description.get("Resources") or {}
    platform = description.get("Platform") or {}
    engine = description.get("Engine") or {}
    status = node.get("Status") or {}
    manager = node.get("ManagerStatus") or {}
    address = str(status.get("Addr") or "") or str(manager.get("Addr") or "").rsplit(":", 1)[0] or None
    nano = resources.get("NanoCPUs")
    return NodeInfo(
        id=str(node.get("ID") or ""),
        hostname=str(description.get("Hostname") or ""),
        role=str(spec.get("Role") or "worker"),
        leader=bool(manager.get("Leader")),
        availability=str(spec.get("Availability") or "active"),
        state=str(status.get("State") or "unknown"),
        address=address,
        engine_version=engine.get("EngineVersion") or None,
        cpus=nano / 1e9 if nano else None,
        memory=int(resources["MemoryBytes"]) if resources.get("MemoryBytes") else None,
        labels={str(k): str(v) for k, v in (spec.get("Labels") or {}).items()},
        running_tasks=running,
        os=platform.get("OS") or None,
        arch=platform.get("Architecture") or None,
        engine_labels={str(k): str(v) for k, v in (engine.get("Labels") or {}).items()},
        message=status.get("Message") or None,
    )


def node_order(node: NodeInfo) -> tuple[int, int, str]:
    return (0 if node.role == "manager" else 1, 0 if node.leader else 1, node.hostname)


class SwarmNodes:
    """The nodes part of the swarm runtime (needs ``_api()``, ``_call()`` and ``_require_manager()``)."""

    if TYPE_CHECKING:

        def _api(self) -> docker.APIClient: ...
        async def _call(self, fn: Any, *args: Any, **kw: Any) -> Any: ...
        def _require_manager(self) -> None: ...
        def _service(self, service_id: str) -> dict[str, Any]: ...
        def _swarm_state(self) -> dict[str, Any]: ...

        node_engines: NodeEngines
        base_url: str

    def _unplaced(self, task: Mapping[str, Any], service_id: str) -> PlacementFailed | None:
        """Blocking: the error for a task of ``service_id`` no node can take, or None (cheap when placed)."""
        reason = unplaced_reason(task)
        if reason is None:
            return None
        return placement_error(reason, constraints_of(self._service(service_id)))

    def _running_counts(self) -> Counter[str]:
        tasks = self._api().tasks(filters={"desired-state": "running"}) or []
        return Counter(
            str(t.get("NodeID")) for t in tasks if (t.get("Status") or {}).get("State") == "running"
        )

    def _nodes(self) -> builtins.list[NodeInfo]:
        self._require_manager()
        counts = self._running_counts()
        nodes = [node_info(n, counts.get(str(n.get("ID")), 0)) for n in self._api().nodes() or []]
        self._engine_statuses(nodes)
        return sorted(nodes, key=node_order)

    def _engine_statuses(self, nodes: builtins.list[NodeInfo]) -> None:
        """Blocking: each node's ``engine_*`` fields: this engine's own node is ``local``; the others' engines
        (``node_engines``) are pinged."""
        local = str(self._swarm_state().get("NodeID") or "")
        others = [(n.id, n.hostname) for n in nodes if n.id != local]
        statuses = self.node_engines.statuses(others)
        for node in nodes:
            if node.id == local:
                node.engine_endpoint, node.engine_status = self.base_url, LOCAL
            else:
                node.engine_endpoint, node.engine_status, node.engine_error = statuses[node.id]

    async def nodes(self) -> builtins.list[NodeInfo]:
        """Every node of the swarm, managers first (the leader first of all), with its running task count."""
        return await self._call(self._nodes)  # type: ignore[no-any-return]

    def _inspect_node(self, node_id: str) -> dict[str, Any]:
        try:
            return dict(self._api().inspect_node(node_id))
        except docker.errors.NotFound:
            raise NotFound(f"node {node_id} not found in the swarm", details={"id": node_id}) from None

    def _update_node(
        self, node_id: str, availability: str | None, labels: Mapping[str, str] | None
    ) -> NodeInfo:
        self._require_manager()
        if availability is not None and availability not in AVAILABILITIES:
            raise ValidationFailed.on("availability", f"must be one of {', '.join(AVAILABILITIES)}")
        for attempt in range(2):
            node = self._inspect_node(node_id)
            spec = dict(node.get("Spec") or {})
            if availability is not None:
                spec["Availability"] = availability
            if labels is not None:
                spec["Labels"] = {str(k): str(v) for k, v in labels.items()}
            try:
                self._api().update_node(node["ID"], (node.get("Version") or {}).get("Index"), spec)
                break
            except docker.errors.APIError as exc:
                text = str(exc.explanation or exc)
                if attempt == 0 and "update out of sequence" in text:
                    continue  # changed meanwhile (another manager, `docker node update`): read it again
                raise EngineError(f"swarm refused the node update: {text}", details={"id": node_id}) from None
        node = self._inspect_node(node_id)
        updated = node_info(node, self._running_counts().get(str(node["ID"]), 0))
        self._engine_statuses([updated])
        return updated

    async def update_node(
        self,
        node_id: str,
        *,
        availability: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> NodeInfo:
        """Set the node's availability and/or replace its labels; returns the node afterwards. Draining a node
        makes swarm stop its tasks and start them on other nodes (with one node: nowhere, they wait)."""
        return await self._call(self._update_node, node_id, availability, labels)  # type: ignore[no-any-return]
