"""``GET /api/nodes``, ``GET /api/nodes/{id}``, ``PUT /api/nodes/{id}``: the nodes the runtime runs containers on
(issue 23). Thin handlers over :class:`rivetr_core.services.nodes.NodeService`: the swarm runtime's nodes, or the
one ``standalone`` engine of the docker and podman runtimes (which cannot be changed: 409 ``not_a_cluster``).
All need the ``server`` permission (hosts, addresses, and a drain moves every team's containers); a change is
audited as ``nodes_api.update_node``."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field
from quart import Blueprint
from quart_schema import document_response, tag, validate_request

from rivetr_core.apimodel import ApiModel
from rivetr_core.context import rivetr
from rivetr_core.contract.nodes import Availability
from rivetr_core.openapi import responds
from rivetr_core.services.nodes import LABELS_SCHEMA

bp = Blueprint("nodes_api", __name__, url_prefix="/api/nodes")


class NodeOut(ApiModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(description="The swarm's node id; `local` for the one engine of a non-cluster runtime.")
    hostname: str
    role: str = Field(description="manager, worker, or standalone (docker, podman: one engine, no cluster).")
    leader: bool = Field(description="The manager leading the swarm (true for a standalone engine).")
    availability: str = Field(
        description="active (takes tasks), pause (keeps its tasks, no new ones), drain."
    )
    state: str = Field(description="ready, down, disconnected or unknown.")
    address: str | None = Field(description="The node's advertised address (the engine's socket standalone).")
    engine_version: str | None
    cpus: float | None
    memory: int | None = Field(description="Bytes.")
    labels: dict[str, str] = Field(description="The node's labels (`node.labels.<key>` in a placement).")
    running_tasks: int | None = Field(description="Containers running on it now (null: unknown).")
    os: str | None
    arch: str | None
    engine_labels: dict[str, str] = Field(description="The engine's own labels (`engine.labels.<key>`).")
    message: str | None = Field(description="Why the node is down, when the engine says.")
    engine_endpoint: str | None = Field(
        None,
        description="How Rivetr reaches this node's own engine (exec, terminals, stats and pause of its tasks): "
        "the runtime's socket for the node it talks to, the address `[plugins.runtime-swarm] node_engines` "
        "gives for another node; null: none configured.",
    )
    engine_status: str | None = Field(
        None,
        description="local (the engine the runtime talks to), reachable, unreachable (engine_error says why) or "
        "not_configured (its tasks' exec, stats and pause answer 409 task_on_another_node); null: the runtime "
        "does not tell.",
    )
    engine_error: str | None = Field(None, description="Why the node's engine did not answer.")


class NodesOut(ApiModel):
    model_config = ConfigDict(extra="forbid")
    runtime: str = Field(description="The runtime in use (`[runtime] runtime_type`).")
    cluster: bool = Field(description="The runtime schedules over nodes (swarm); false: one engine.")
    items: list[NodeOut] = Field(description="Managers first, the leader first of all, then by hostname.")
    next: None = Field(None, description="Always null: the whole list fits in one page.")


class NodeUpdateIn(ApiModel):
    model_config = ConfigDict(extra="forbid")
    availability: Availability | None = Field(
        None,
        description="active, pause or drain. A drained node's tasks stop and start on other nodes (with one "
        "node: nowhere; they wait until it is active again).",
    )
    labels: dict[str, str] | None = Field(
        None,
        json_schema_extra=LABELS_SCHEMA,
        description="Replaces all of the node's labels ({} removes them); absent: unchanged. Keys: letters, "
        "digits, . _ / - (128 at most); values one line, 300 characters at most; 100 labels at most.",
    )


class NodeUpdateOut(NodeOut):
    warning: str | None = Field(
        None, description="Set when no node is active any more (draining the last one is allowed)."
    )


def _out(node: Any) -> dict[str, Any]:
    from rivetr_core.services.nodes import node_json

    return NodeOut.model_validate(node_json(node)).model_dump(mode="json")


@bp.get("")
@responds(503)
@tag(["system"])
@document_response(NodesOut)
async def list_nodes() -> dict[str, Any]:
    """The nodes the runtime runs containers on: the swarm's nodes (role, leader, availability, state,
    address, engine version, CPUs, memory, labels, running tasks), or, for the docker and podman runtimes, one
    ``standalone`` node (id ``local``) for their engine. 503 when the engine does not answer."""
    name, cluster, nodes = await rivetr().services.nodes.list()
    return NodesOut.model_validate(
        {"runtime": name, "cluster": cluster, "items": [_out(n) for n in nodes], "next": None}
    ).model_dump(mode="json")


@bp.get("/<node_id>")
@responds(404, 409, 503)
@tag(["system"])
@document_response(NodeOut)
async def get_node(node_id: str) -> dict[str, Any]:
    """One node, by its id, its hostname, or a prefix of its id only it has (409 ``ambiguous_node``)."""
    return _out(await rivetr().services.nodes.get(node_id))


@bp.put("/<node_id>")
@responds(404, 409, 503)
@tag(["system"])
@validate_request(NodeUpdateIn)
@document_response(NodeUpdateOut)
async def update_node(node_id: str, data: NodeUpdateIn) -> dict[str, Any]:
    """Set a swarm node's availability (``drain`` moves its tasks off; ``active`` takes tasks again) and/or
    replace its labels (what ``node.labels.<key>`` placement constraints match). 409 ``not_a_cluster`` for the
    standalone engine of the docker and podman runtimes. Draining the last active node is allowed: the answer's
    ``warning`` then says that nothing can run until a node is active again."""
    fields = data.model_dump(exclude_unset=True)
    node, warning = await rivetr().services.nodes.update(
        node_id, availability=fields.get("availability"), labels=fields.get("labels")
    )
    return NodeUpdateOut.model_validate({**_out(node), "warning": warning}).model_dump(mode="json")
