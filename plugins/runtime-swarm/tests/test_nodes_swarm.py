"""Nodes and placement (issue 23) on a real swarm: this machine's dockerd as a single-node swarm manager.

The runtime lists the node as the leading manager with its resources; a label on it lets a service with a
matching placement constraint run, while one no node satisfies fails at once with an error naming the
constraints (swarm itself would leave the task pending); draining the node stops its tasks and activating it
brings them back; ``/api/nodes`` and ``rivetr nodes`` answer from the same runtime. Every test restores the node's
availability and labels in a ``finally`` (other sessions' tests may share this swarm; only this node is touched)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from rivetr_runtime_swarm.nodes import PlacementFailed
from rivetr_runtime_swarm.runtime import SwarmRuntime

from rivetr_core.contract import RunSpec
from rivetr_core.contract.nodes import ClusterRuntime, NodeInfo
from tests.support.engines import EngineEnv

pytestmark = pytest.mark.docker

#: Seconds to wait for swarm to stop or start a task after a drain or an activation.
SETTLE = 60.0
LABEL = "rivetr-test-tier"


@pytest.fixture
async def runtime(swarm_engine: EngineEnv) -> AsyncIterator[SwarmRuntime]:
    rt = SwarmRuntime(swarm_engine.docker_socket, project_firewall=False)
    yield rt
    await rt.close()


@pytest.fixture
async def this_node(runtime: SwarmRuntime) -> AsyncIterator[NodeInfo]:
    """This engine's node, restored afterwards to the availability and labels it had."""
    node_id = (await runtime.info()).extra["swarm_node"]
    (node,) = [n for n in await runtime.nodes() if n.id == node_id]
    try:
        yield node
    finally:
        await runtime.update_node(node.id, availability=node.availability, labels=node.labels)


@pytest.fixture
async def services(runtime: SwarmRuntime) -> AsyncIterator[list[str]]:
    """Ids of the services a test ran, removed afterwards."""
    made: list[str] = []
    yield made
    for service_id in made:
        with contextlib.suppress(Exception):
            await runtime.remove(service_id)


def _spec(image: str, placement: list[str]) -> RunSpec:
    return RunSpec(
        image=image,
        name=f"rivetr-nodes-{uuid.uuid4().hex[:8]}",
        labels={"rivetr.test": "nodes"},
        command=["sleep", "600"],
        restart_policy="always",
        placement=placement,
    )


async def _until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + SETTLE
    while not await check():
        assert time.monotonic() < deadline, f"not within {SETTLE:.0f} s: {what}"
        await asyncio.sleep(0.2)


async def _running_here(runtime: SwarmRuntime, service_id: str, node_id: str) -> int:
    tasks = await runtime._call(runtime._tasks, service_id)
    return sum(
        1 for t in tasks if t.get("NodeID") == node_id and (t.get("Status") or {}).get("State") == "running"
    )


async def _is_running_here(runtime: SwarmRuntime, service_id: str, node_id: str) -> bool:
    return await _running_here(runtime, service_id, node_id) == 1


async def test_nodes_lists_this_engine_as_the_leading_manager(
    runtime: SwarmRuntime, this_node: NodeInfo
) -> None:
    assert isinstance(runtime, ClusterRuntime)
    nodes = await runtime.nodes()
    assert nodes[0].role == "manager"  # managers first
    node = this_node
    assert node.role == "manager" and node.leader is True, node
    assert node.state == "ready" and node.availability == "active", node
    assert node.cpus and node.cpus > 0 and node.memory and node.memory > 64 * 1024**2, node
    assert node.engine_version and node.os == "linux" and node.arch, node
    assert node.hostname and isinstance(node.running_tasks, int), node


async def test_a_matching_constraint_runs_and_one_no_node_satisfies_fails_naming_it(
    runtime: SwarmRuntime, this_node: NodeInfo, swarm_engine: EngineEnv, services: list[str]
) -> None:
    tier = f"web-{uuid.uuid4().hex[:6]}"
    labelled = await runtime.update_node(this_node.id, labels={**this_node.labels, LABEL: tier})
    assert labelled.labels[LABEL] == tier

    info = await runtime.run(
        _spec(swarm_engine.base_image, [f"node.labels.{LABEL} == {tier}", "node.role == manager"])
    )
    services.append(info.id)
    assert info.running, info
    spec = await runtime._call(runtime._service, info.id)
    assert spec["Spec"]["TaskTemplate"]["Placement"]["Constraints"] == [
        f"node.labels.{LABEL} == {tier}",
        "node.role == manager",
    ]
    await _until(lambda: _is_running_here(runtime, info.id, this_node.id), "the task running on this node")
    counted = next(n for n in await runtime.nodes() if n.id == this_node.id).running_tasks
    assert counted is not None and counted >= 1

    unmatched = _spec(swarm_engine.base_image, [f"node.labels.{LABEL} == elsewhere"])
    with pytest.raises(PlacementFailed) as failed:
        await runtime.run(unmatched)
    message = str(failed.value)
    assert "no node of the swarm can run the service" in message, message
    assert f"node.labels.{LABEL} == elsewhere" in message and "no suitable node" in message, message
    assert failed.value.details["placement"] == [f"node.labels.{LABEL} == elsewhere"]
    # Nothing left behind: run() removes the service it could not start.
    assert not [s for s in await runtime.list({"rivetr.test": "nodes"}) if s.name == unmatched.name]


async def test_drain_stops_the_nodes_tasks_and_activate_brings_them_back(
    runtime: SwarmRuntime, this_node: NodeInfo, swarm_engine: EngineEnv, services: list[str]
) -> None:
    info = await runtime.run(_spec(swarm_engine.base_image, [f"node.id == {this_node.id}"]))
    services.append(info.id)
    await _until(lambda: _is_running_here(runtime, info.id, this_node.id), "the task running on this node")

    drained = await runtime.update_node(this_node.id, availability="drain")
    assert drained.availability == "drain"

    async def stopped() -> bool:
        return await _running_here(runtime, info.id, this_node.id) == 0

    await _until(stopped, "the drained node's task stopped")
    assert not (await runtime.inspect(info.id)).running

    active = await runtime.update_node(this_node.id, availability="active")
    assert active.availability == "active"

    await _until(lambda: _is_running_here(runtime, info.id, this_node.id), "the task started again here")
    await _until(lambda: _inspect_running(runtime, info.id), "the service reported running again")


async def _inspect_running(runtime: SwarmRuntime, service_id: str) -> bool:
    return (await runtime.inspect(service_id)).running


def test_nodes_api_and_cli_on_the_swarm(swarm_engine: EngineEnv, tmp_path: Path) -> None:
    """Synchronous: the API runs in a thread of its own (cli_on_runtime) and the CLI calls it."""
    import httpx

    from tests.support.cli import cli_on_runtime
    from tests.support.server import AUTH

    runtime = SwarmRuntime(swarm_engine.docker_socket, project_firewall=False)
    node_id = asyncio.run(runtime.info()).extra["swarm_node"]
    before = next(n for n in asyncio.run(runtime.nodes()) if n.id == node_id)
    try:
        with cli_on_runtime(tmp_path, runtime) as (url, run):
            with httpx.Client(base_url=url, headers=AUTH, timeout=30) as client:
                body = client.get("/api/nodes").json()
                assert body["cluster"] is True and body["runtime"] == "swarm", body
                mine = [n for n in body["items"] if n["id"] == node_id]
                assert mine and mine[0]["role"] == "manager" and mine[0]["leader"] is True, body
                by_name = client.get(f"/api/nodes/{before.hostname}").json()
                assert by_name["id"] == node_id, by_name
                bad = client.put(f"/api/nodes/{node_id}", json={"availability": "asleep"})
                assert bad.status_code == 422, bad.text
                missing = client.put("/api/nodes/zzzzzzzzzzzz", json={"availability": "drain"})
                assert missing.status_code == 404, missing.text

            labelled = run("nodes", "label", node_id, f"{LABEL}=api", "zone=test")
            assert labelled.exit_code == 0, labelled.output
            assert f"{LABEL}=api" in labelled.output and "zone=test" in labelled.output
            removed = run("nodes", "label", node_id, "--remove", "zone")
            assert removed.exit_code == 0 and "zone=test" not in removed.output, removed.output
            after = next(n for n in asyncio.run(runtime.nodes()) if n.id == node_id)
            assert after.labels.get(LABEL) == "api" and "zone" not in after.labels, after

            listed = run("nodes", "list")
            assert listed.exit_code == 0 and "manager (leader)" in listed.output, listed.output
            drained = run("nodes", "drain", before.hostname)
            assert drained.exit_code == 0 and "drain" in drained.output, drained.output
            single = len(asyncio.run(runtime.nodes())) == 1
            if single:  # the last active node drained: allowed, with a warning
                assert "no node of the swarm is active now" in drained.output, drained.output
            activated = run("nodes", "activate", before.hostname)
            assert activated.exit_code == 0 and "active" in activated.output, activated.output
            with httpx.Client(base_url=url, headers=AUTH, timeout=30) as client:
                actions = [e["action"] for e in client.get("/api/audit").json()["items"]]
            assert actions.count("nodes_api.update_node") == 4 + 2, actions  # 4 CLI changes, the 422, the 404
    finally:  # with a runtime of its own: the server closed its runtime on the way out
        restore = SwarmRuntime(swarm_engine.docker_socket, project_firewall=False)
        asyncio.run(restore.update_node(node_id, availability=before.availability, labels=before.labels))


async def test_starting_a_stopped_service_no_node_can_take_fails_naming_the_constraints(
    runtime: SwarmRuntime, this_node: NodeInfo, swarm_engine: EngineEnv, services: list[str]
) -> None:
    info = await runtime.run(_spec(swarm_engine.base_image, [f"node.id == {this_node.id}"]))
    services.append(info.id)
    await runtime.stop(info.id, timeout=1)
    await runtime.update_node(this_node.id, availability="drain")
    with pytest.raises(PlacementFailed) as failed:
        await runtime.start(info.id)
    assert f"node.id == {this_node.id}" in str(failed.value), failed.value
    await runtime.update_node(this_node.id, availability="active")
    await _until(lambda: _inspect_running(runtime, info.id), "the service running once the node is active")
