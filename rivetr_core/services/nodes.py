"""The nodes a runtime runs containers on (``/api/nodes``, ``rivetr nodes``, the Server page's Nodes panel).

A cluster runtime (:class:`rivetr_core.contract.nodes.ClusterRuntime`: swarm) answers with its nodes and lets
one change a node's availability and labels. Any other runtime runs on one engine: it is shown as one
``standalone`` node (id ``local``), from the runtime's info and this host, and changing it is a 409
``not_a_cluster``.

A node is named by its id, a prefix of its id that only it has, or its hostname (as ``docker node`` does).
"""

from __future__ import annotations

import builtins
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from rivetr_core.contract import Conflict, NotFound, ValidationFailed
from rivetr_core.contract.nodes import AVAILABILITIES, ClusterRuntime, NodeInfo

if TYPE_CHECKING:
    from rivetr_core.context import RivetrContext

#: The id of the one node of a runtime without the cluster capability.
LOCAL_NODE = "local"
MAX_LABELS = 100
MAX_LABEL_VALUE = 300
#: Node label keys and values, as the API schema states them (``propertyNames`` / ``additionalProperties``):
#: checked with exactly these patterns, so a fuzzer's schema-valid body is never refused.
LABEL_KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$"
LABEL_VALUE_PATTERN = r"^[^\n\r\x00]*$"
LABELS_SCHEMA: dict[str, Any] = {
    "maxProperties": MAX_LABELS,
    "propertyNames": {"pattern": LABEL_KEY_PATTERN},
    "additionalProperties": {"type": "string", "maxLength": MAX_LABEL_VALUE, "pattern": LABEL_VALUE_PATTERN},
}
_LABEL_KEY = re.compile(LABEL_KEY_PATTERN)
_LABEL_VALUE = re.compile(LABEL_VALUE_PATTERN)


def check_labels(labels: Mapping[str, Any]) -> dict[str, str]:
    """Node labels as swarm takes them; ``ValidationFailed`` naming the bad key."""
    if len(labels) > MAX_LABELS:
        raise ValidationFailed.on("labels", f"at most {MAX_LABELS} labels, got {len(labels)}")
    out: dict[str, str] = {}
    for key, value in labels.items():
        if not isinstance(key, str) or not _LABEL_KEY.match(key):
            raise ValidationFailed.on(
                "labels", f"key {key!r} is not a label name (letters, digits, . _ / -; 128 at most)"
            )
        if not isinstance(value, str) or len(value) > MAX_LABEL_VALUE or not _LABEL_VALUE.match(value):
            raise ValidationFailed.on(
                "labels", f"the value of {key} must be one line of text, {MAX_LABEL_VALUE} characters at most"
            )
        out[key] = value
    return out


def node_json(node: NodeInfo) -> dict[str, Any]:
    return asdict(node)


class NodeService:
    """Stateless: made per call from the context (the runtime is chosen once by the context)."""

    def __init__(self, ctx: RivetrContext) -> None:
        self.ctx = ctx

    async def cluster(self) -> tuple[str, ClusterRuntime | None]:
        """The runtime's name and the runtime itself when it is a cluster."""
        runtime = await self.ctx.runtime()
        name = str(getattr(runtime, "name", "") or "")
        return name, runtime if isinstance(runtime, ClusterRuntime) else None

    async def _standalone(self) -> NodeInfo:
        runtime = await self.ctx.runtime()
        info = await runtime.info()
        alive = await runtime.ping()
        try:
            running: int | None = len(await runtime.list(all=False)) if alive else None
        except Exception:  # the count is a nicety; the node is still shown
            running = None
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        return NodeInfo(
            id=LOCAL_NODE,
            hostname=socket.gethostname(),
            role="standalone",
            leader=True,
            availability="active",
            state="ready" if alive else "down",
            address=str(info.extra.get("address") or "") or None,
            engine_version=info.version or None,
            cpus=float(os.cpu_count() or 0) or None,
            memory=pages * page_size if pages > 0 and page_size > 0 else None,
            running_tasks=running,
            os=info.extra.get("os") or None,
            arch=info.extra.get("arch") or None,
            engine_endpoint=str(info.extra.get("address") or "") or None,
            engine_status="local",
        )

    async def list(self) -> tuple[str, bool, builtins.list[NodeInfo]]:
        """``(runtime name, is a cluster, nodes)``: managers first, the leader first of all."""
        name, cluster = await self.cluster()
        if cluster is None:
            return name, False, [await self._standalone()]
        return name, True, await cluster.nodes()

    @staticmethod
    def find(nodes: builtins.list[NodeInfo], ref: str) -> NodeInfo:
        """The node ``ref`` names: its id, its hostname, or a prefix of its id only it has."""
        for node in nodes:
            if ref in (node.id, node.hostname):
                return node
        matches = [n for n in nodes if len(ref) >= 3 and n.id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise Conflict(
                f"{ref} is the start of several node ids: give more of it", code="ambiguous_node",
                details={"id": ref, "matches": [n.id for n in matches]},
            )  # fmt: skip
        raise NotFound(f"node {ref} not found", details={"id": ref})

    async def get(self, ref: str) -> NodeInfo:
        _, _, nodes = await self.list()
        return self.find(nodes, ref)

    async def update(
        self, ref: str, *, availability: str | None = None, labels: Mapping[str, Any] | None = None
    ) -> tuple[NodeInfo, str | None]:
        """Change the node; returns it afterwards and a warning when no node is active any more."""
        if availability is not None and availability not in AVAILABILITIES:
            raise ValidationFailed.on("availability", f"must be one of {', '.join(AVAILABILITIES)}")
        checked = None if labels is None else check_labels(labels)
        name, cluster = await self.cluster()
        nodes = await cluster.nodes() if cluster is not None else [await self._standalone()]
        node = self.find(nodes, ref)
        if cluster is None:
            raise Conflict(
                f"the {name} runtime runs every container on one engine, not a cluster: nodes can be drained, "
                "paused and labelled with the swarm runtime (docs/scaling.md)",
                code="not_a_cluster",
                details={"runtime": name, "id": node.id},
            )
        if availability == "drain" and (drain := getattr(cluster, "drain_node", None)) is not None:
            # A cluster runtime that moves the node's tasks itself (swarm: start-first) has the routes follow
            # them before the old ones stop: a drain is a move, not a crash (docs/scaling.md, "Several nodes").
            from rivetr_core.engine.moved import follow_all

            updated = await drain(node.id, labels=checked, before_stop=lambda: follow_all(self.ctx))
        else:
            updated = await cluster.update_node(node.id, availability=availability, labels=checked)
        others = [n for n in nodes if n.id != updated.id]
        active = [n for n in [*others, updated] if n.availability == "active" and n.state == "ready"]
        warning = None
        if not active:
            warning = (
                "no node of the swarm is active now: its tasks stop and new ones wait (deployments fail) until "
                "a node is activated (rivetr nodes activate NODE)"
            )
        return updated, warning
