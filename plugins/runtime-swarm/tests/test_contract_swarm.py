"""The ContainerRuntime contract (rivetr_core.testing.contract) against a real single-node Docker Swarm, plus what
only a swarm service has (its spec, start-first updates, the host-mode port the proxy reaches)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import urllib.request
from collections.abc import Callable
from typing import Any, Literal

import pytest
from rivetr_runtime_swarm.runtime import SwarmRuntime

from rivetr_core.contract import ContainerRuntime, HealthcheckConfig, RivetrError, RunSpec
from rivetr_core.testing.contract import RuntimeContract
from rivetr_core.testing.helpers import HTTPD_PORT, http_get, unique_name, wait_http
from tests.support.engines import EngineEnv


def _docker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def rivetr_runtime_factory(swarm_engine: EngineEnv) -> Callable[[], SwarmRuntime]:
    return lambda: SwarmRuntime(swarm_engine.docker_socket, project_firewall=False)


@pytest.fixture(scope="module")
def rivetr_base_image(swarm_engine: EngineEnv) -> str:
    return swarm_engine.base_image


@pytest.fixture(scope="module")
def rivetr_pull_image(swarm_engine: EngineEnv) -> str | None:
    return "docker.io/library/redis:7" if swarm_engine.registry else None


@pytest.mark.docker
class TestSwarmContract(RuntimeContract):
    stream_thread_name = "rivetr-swarm-stream"
    extra_interfaces = 1  # docker_gwbridge

    async def raw_inspect(
        self, runtime: Any, kind: Literal["container", "image"], ref: str
    ) -> dict[str, Any] | None:
        # A service has no HostConfig (swarm owns restarts and ports): its spec is checked by
        # test_service_spec_and_start_first_update below instead.
        if kind == "container":
            return None
        api = runtime._api()
        return await runtime._call(lambda: api.inspect_image(ref))  # type: ignore[no-any-return]

    def build_steps(self, runtime: Any, lines: list[str]) -> list[tuple[int, int]] | None:
        return [(step[0], step[1]) for line in lines if (step := runtime.build_step(line))]

    async def test_unpublished_port_reached_at_container_address(self) -> None:  # type: ignore[override]
        pytest.skip(
            "swarm publishes the main port always (publish=False cannot apply): the host cannot reach a "
            "task's address on an overlay network, so upstream is its host-mode port"
        )

    # ------------------------------------------------------------------------------------ swarm only
    async def test_service_spec_and_start_first_update(
        self, rivetr_runtime: ContainerRuntime, rivetr_httpd_image: str, rivetr_test_labels: dict[str, str]
    ) -> None:
        """The service carries the spec (restart policy, init, limits, health check, start-first updates,
        host-mode port on dnsrr) and its port answers on 127.0.0.1, where the proxy connects; a forced update
        starts the new task before the old one stops, on a new port."""
        runtime = rivetr_runtime
        assert isinstance(runtime, SwarmRuntime)
        info = await runtime.run(
            RunSpec(
                image=rivetr_httpd_image,
                name=unique_name("svc"),
                labels=rivetr_test_labels,
                container_port=HTTPD_PORT,
                restart_policy="unless-stopped",
                memory_limit=64 * 1024 * 1024,
                healthcheck=HealthcheckConfig(["CMD", "true"], interval=0.5, timeout=2, retries=1),
            )
        )
        assert info.upstream == f"127.0.0.1:{info.host_port}" and info.image == rivetr_httpd_image
        assert await wait_http(info.host_port or 0) == (200, "hello from rivetr\n")
        service = await runtime._call(lambda: runtime._api().inspect_service(info.id))
        spec = service["Spec"]
        task = spec["TaskTemplate"]
        assert spec["Mode"] == {"Replicated": {"Replicas": 1}}
        assert spec["UpdateConfig"]["Order"] == "start-first"
        assert task["RestartPolicy"]["Condition"] == "any"
        assert task["ContainerSpec"]["Init"] is True
        assert task["ContainerSpec"]["Healthcheck"]["Test"] == ["CMD", "true"]
        assert task["ContainerSpec"]["Image"].startswith("sha256:")  # never pulled by the node's agent
        assert task["Resources"]["Limits"]["MemoryBytes"] == 64 * 1024 * 1024
        assert spec["EndpointSpec"]["Mode"] == "dnsrr"
        assert [p["PublishMode"] for p in spec["EndpointSpec"]["Ports"]] == ["host"]
        assert set(info.labels) == set(rivetr_test_labels)  # the runtime's own labels stay hidden

        # A rolling update (what a redeploy of the same service does): the old task keeps serving until the
        # new one is up, then the service's upstream is the new task's port.
        old_port = info.host_port
        done = await asyncio.to_thread(_docker, "service", "update", "--force", "--detach=false", info.id)
        assert done.returncode == 0, done.stderr
        tasks = await runtime._call(lambda: runtime._api().tasks(filters={"service": info.id}))
        states = sorted((t["Status"]["State"], t["DesiredState"]) for t in tasks)
        assert ("running", "running") in states and len(tasks) == 2, states
        updated = await runtime.inspect(info.id)
        assert updated.running and updated.host_port and updated.host_port != old_port
        assert (await http_get(updated.host_port)) == (200, "hello from rivetr\n")

    async def test_stopped_service_keeps_exit_code_and_starts_again(
        self, rivetr_runtime: ContainerRuntime, rivetr_httpd_image: str, rivetr_test_labels: dict[str, str]
    ) -> None:
        runtime = rivetr_runtime
        assert isinstance(runtime, SwarmRuntime)
        info = await runtime.run(
            RunSpec(
                image=rivetr_httpd_image,
                name=unique_name("ss"),
                labels=rivetr_test_labels,
                container_port=HTTPD_PORT,
                restart_policy="always",
            )
        )
        await runtime.stop(info.id, timeout=5)
        stopped = await runtime.inspect(info.id)
        assert (stopped.running, stopped.status, stopped.exit_code, stopped.host_port) == (
            False,
            "exited",
            143,
            None,
        )
        assert [c.id for c in await runtime.list(labels=rivetr_test_labels, all=False)] == []
        # The restart policy does not bring a stopped service back.
        await asyncio.sleep(2)
        assert not (await runtime.inspect(info.id)).running
        with pytest.raises(RivetrError):
            await runtime.exec(info.id, ["true"])
        await runtime.start(info.id)
        again = await runtime.inspect(info.id)
        assert again.running and again.exit_code is None and again.host_port
        assert await wait_http(again.host_port) == (200, "hello from rivetr\n")

    async def test_overlay_network_removal_waits_for_the_removed_service(
        self, rivetr_runtime: ContainerRuntime, rivetr_base_image: str, rivetr_test_labels: dict[str, str]
    ) -> None:
        """``remove`` returns once the service's containers are gone, so its network can go right after."""
        runtime = rivetr_runtime
        assert isinstance(runtime, SwarmRuntime)
        name = unique_name("ov")
        try:
            await runtime.ensure_network(name, rivetr_test_labels)
            info = await runtime.run(
                RunSpec(
                    image=rivetr_base_image,
                    name=unique_name("on"),
                    labels=rivetr_test_labels,
                    network=name,
                    command=["sleep", "300"],
                )
            )
            driver = await runtime._call(lambda: runtime._api().inspect_network(name)["Driver"])
            assert driver == "overlay"
            await runtime.remove(info.id)
            await runtime.remove_network(name)
        finally:
            with contextlib.suppress(RivetrError):
                await runtime.remove_network(name)

    async def test_registry_push_runs_the_pushed_digest(
        self, swarm_engine: EngineEnv, rivetr_httpd_image: str, rivetr_test_labels: dict[str, str]
    ) -> None:
        """``[plugins.runtime-swarm] registry``: the image is pushed there and the service runs
        ``<registry>/<path>@<digest>`` (what another node would pull), which the registry serves."""
        if not swarm_engine.registry:
            pytest.skip("no local registry (scripts/engines.sh runs one)")
        runtime = SwarmRuntime(
            swarm_engine.docker_socket, registry=swarm_engine.registry, project_firewall=False
        )
        try:
            info = await runtime.run(
                RunSpec(
                    image=rivetr_httpd_image,
                    name=unique_name("reg"),
                    labels=rivetr_test_labels,
                    container_port=HTTPD_PORT,
                )
            )
            assert await wait_http(info.host_port or 0) == (200, "hello from rivetr\n")
            service = await runtime._call(lambda: runtime._api().inspect_service(info.id))
            image = service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
            repository, _, digest = image.partition("@")
            assert repository == f"{swarm_engine.registry}/rivetr-test/httpd-contract" and digest.startswith(
                "sha256:"
            )
            path = repository.split("/", 1)[1]
            status, _ = await asyncio.to_thread(_registry_manifest, swarm_engine.registry, path, digest)
            assert status == 200
            assert info.image == rivetr_httpd_image  # callers keep seeing their own reference
        finally:
            for service_info in await runtime.list(labels=rivetr_test_labels):
                await runtime.remove(service_info.id)
            await runtime.remove_image(f"{swarm_engine.registry}/{rivetr_httpd_image.split('/', 1)[1]}")
            await runtime.close()


def _registry_manifest(registry: str, path: str, digest: str) -> tuple[int, str]:
    accept = (
        "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"
    )
    request = urllib.request.Request(
        f"http://{registry}/v2/{path}/manifests/{digest}", headers={"Accept": accept}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read().decode()

    async def test_project_network_replaces_an_unused_bridge_of_its_name(
        self, rivetr_runtime: ContainerRuntime, rivetr_base_image: str, rivetr_test_labels: dict[str, str]
    ) -> None:
        """A project network the docker runtime made (a bridge) before the switch to swarm: replaced by an
        overlay when unused, a clear error while a container uses it."""
        runtime = rivetr_runtime
        assert isinstance(runtime, SwarmRuntime)
        name = unique_name("was-bridge")
        holder = unique_name("holder")
        try:
            assert _docker("network", "create", "-d", "bridge", name).returncode == 0
            done = _docker("run", "-d", "--name", holder, "--network", name, rivetr_base_image, "sleep", "60")
            assert done.returncode == 0, done.stderr
            with pytest.raises(RivetrError) as caught:
                await runtime.ensure_project_network(name, rivetr_test_labels)
            assert "still used by containers" in str(caught.value)
            _docker("rm", "-f", holder)
            assert await runtime.ensure_project_network(name, rivetr_test_labels) == name
            driver = await runtime._call(lambda: runtime._api().inspect_network(name)["Driver"])
            assert driver == "overlay"
        finally:
            _docker("rm", "-f", holder)
            with contextlib.suppress(RivetrError):
                await runtime.remove_network(name)
            _docker("network", "rm", name)
