"""Which node runs a task, and where the proxy on this node reaches it.

A task's host-mode port is bound on the node that runs it. On this engine's own node that is loopback (the
proxy runs here); on another node it is that node's address as the swarm knows it (``Status.Addr``, the
address it joined with), which must be reachable from here: see docs/scaling.md, "Several nodes".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import docker.errors


def node_of(task: Mapping[str, Any] | None) -> str:
    return str((task or {}).get("NodeID") or "")


class NodeAddresses:
    """Node id -> address lookups for one engine call (a listing asks once per node, not once per task)."""

    def __init__(self, api: Any) -> None:
        self.api = api
        self._local: str | None = None
        self._nodes: dict[str, dict[str, Any]] = {}

    def local_node(self) -> str:
        """The id of the engine's own node (the manager Rivetr talks to)."""
        if self._local is None:
            self._local = str((self.api.info().get("Swarm") or {}).get("NodeID") or "")
        return self._local

    def is_remote(self, task: Mapping[str, Any] | None) -> bool:
        node = node_of(task)
        return bool(node) and node != self.local_node()

    def _node(self, node: str) -> dict[str, Any]:
        if node not in self._nodes:
            try:
                self._nodes[node] = dict(self.api.inspect_node(node))
            except docker.errors.NotFound:
                self._nodes[node] = {}
        return self._nodes[node]

    def address(self, node: str) -> str | None:
        """``Status.Addr`` of ``node``; None when the node is gone or reports none."""
        return str((self._node(node).get("Status") or {}).get("Addr") or "") or None

    def hostname(self, node: str) -> str | None:
        """The node's hostname (its name in ``docker node ls``, what ``node_engines`` may name it by)."""
        return str((self._node(node).get("Description") or {}).get("Hostname") or "") or None

    def remote_address(self, task: Mapping[str, Any] | None) -> str | None:
        """Where this node reaches ``task``'s published ports: None on this node (loopback), else its node's
        address."""
        return self.address(node_of(task)) if self.is_remote(task) else None
