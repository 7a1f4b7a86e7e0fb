"""``/api/nodes`` on the real single-host engines (docker, podman): one ``standalone`` node for the engine, with
its version, platform and running container count from the engine, and a change refused with 409
``not_a_cluster``. The swarm's nodes: plugins/runtime-swarm/tests/test_nodes_swarm.py."""

from __future__ import annotations

from pathlib import Path

from rivetr_runtime_docker.runtime import DockerRuntime

from tests.support.server import api_on, make_config


async def test_the_engine_is_one_standalone_node(tmp_path: Path, runtime: DockerRuntime) -> None:
    info = await runtime.info()
    running = len(await runtime.list(all=False))
    async with api_on(runtime, make_config(tmp_path / "data")) as api:
        code, body = await api.get("/api/nodes")
        assert code == 200, body
        assert body["cluster"] is False and body["runtime"] == runtime.name, body
        (node,) = body["items"]
        assert node["id"] == "local" and node["role"] == "standalone" and node["state"] == "ready", node
        assert node["engine_version"] == info.version and node["os"] == info.extra.get("os"), node
        assert node["cpus"] and node["memory"], node
        # Its engine is the one the runtime talks to: exec, stats and pause reach every container.
        assert (node["engine_status"], node["engine_endpoint"]) == ("local", info.extra["address"]), node
        # Other tests' containers may come and go meanwhile: a count of the engine's, not an exact one.
        assert isinstance(node["running_tasks"], int) and node["running_tasks"] >= 0, node
        assert abs(node["running_tasks"] - running) < 50, (node, running)
        code, refused = await api.put("/api/nodes/local", json={"labels": {"tier": "web"}})
        assert code == 409 and refused["error"]["code"] == "not_a_cluster", refused
        assert (
            f"the {runtime.name} runtime runs every container on one engine"
            in refused["error"]["message"].lower()
        )
