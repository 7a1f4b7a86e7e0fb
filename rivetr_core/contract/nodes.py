"""Cluster nodes: the optional runtime capability behind ``/api/nodes`` (issue 23).

A runtime that schedules over several machines (the swarm runtime) offers :class:`ClusterRuntime`: it lists the
cluster's nodes and changes a node's availability (``active``/``pause``/``drain``) and labels. It also honours
:attr:`RunSpec.placement <rivetr_core.contract.runtime.RunSpec.placement>`; a runtime without the capability runs
everything on one engine, ignores placement, and core shows its engine as one ``standalone`` node.

Core checks for it with ``isinstance(runtime, ClusterRuntime)`` (a ``runtime_checkable`` Protocol), so a runtime
written before it still is one.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

#: What a node accepts: ``active`` (new tasks), ``pause`` (keeps its tasks, takes no new ones), ``drain`` (its
#: tasks move to other nodes and it takes none).
Availability = Literal["active", "pause", "drain"]
AVAILABILITIES: tuple[str, ...] = ("active", "pause", "drain")


@dataclass
class NodeInfo:
    """One machine of the cluster as the runtime sees it."""

    id: str
    hostname: str
    #: ``manager``, ``worker``, or ``standalone`` (a runtime without the capability: its one engine).
    role: str
    #: The manager that leads the swarm's Raft group (always true for a standalone engine).
    leader: bool
    availability: str
    #: ``ready``, ``down``, ``disconnected`` or ``unknown``.
    state: str
    #: The address the node is reached at (swarm's advertised address); None when unknown.
    address: str | None = None
    engine_version: str | None = None
    cpus: float | None = None
    #: Bytes.
    memory: int | None = None
    #: User labels of the node (``node.labels.<key>`` in a placement constraint).
    labels: dict[str, str] = field(default_factory=dict)
    #: Tasks (containers) running on it now; None when the runtime cannot tell.
    running_tasks: int | None = None
    os: str | None = None
    arch: str | None = None
    #: The engine's own labels (``engine.labels.<key>``), read-only here.
    engine_labels: dict[str, str] = field(default_factory=dict)
    #: Why the node is down, when the engine says.
    message: str | None = None
    #: How Rivetr reaches the node's own engine (for exec, terminals, stats and pause of the tasks it runs): the
    #: address configured for it (the swarm runtime's ``node_engines``; the runtime's socket for the node it
    #: talks to), None when there is none.
    engine_endpoint: str | None = None
    #: ``local`` (the engine the runtime talks to), ``reachable``, ``unreachable`` (``engine_error`` says why)
    #: or ``not_configured``; None when the runtime does not tell.
    engine_status: str | None = None
    engine_error: str | None = None


@runtime_checkable
class ClusterRuntime(Protocol):
    """Optional runtime methods for a runtime that schedules over several nodes."""

    async def nodes(self) -> builtins.list[NodeInfo]:
        """Every node of the cluster, managers first (the leader first of all), then by hostname."""
        ...

    async def update_node(
        self,
        node_id: str,
        *,
        availability: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> NodeInfo:
        """Change the node ``node_id`` (its full id): ``availability`` when given, and its labels replaced by
        ``labels`` when given (``{}`` removes them all). Raise :class:`~rivetr_core.contract.errors.NotFound`
        for an unknown node. Returns the node as it is afterwards."""
        ...
