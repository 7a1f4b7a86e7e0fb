"""On a real single-node swarm: the push to ``[plugins.runtime-swarm] registry`` with the credentials Rivetr stores
(an htpasswd registry with TLS from a test CA: refused without them; the service runs the pushed digest), and
the published-port firewall (a connection forwarded from a non-node address
is dropped while the host's own ``127.0.0.1:<port>`` keeps working; switched off, the rule is gone)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator

import httpx
import pytest
from rivetr_runtime_swarm import firewall
from rivetr_runtime_swarm.runtime import SwarmRuntime

from rivetr_core.contract import RivetrError, RunSpec
from rivetr_core.testing.helpers import HTTPD_PORT, unique_name, wait_http
from tests.support.auth_registry import AuthRegistry, running_auth_registry
from tests.support.engines import EngineEnv

pytestmark = [pytest.mark.docker]


def _docker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def auth_registry() -> Iterator[AuthRegistry]:
    yield from running_auth_registry()


async def _remove_all(runtime: SwarmRuntime, labels: dict[str, str]) -> None:
    for info in await runtime.list(labels=labels):
        await runtime.remove(info.id)


async def test_push_sends_the_stored_credentials(
    swarm_engine: EngineEnv, auth_registry: AuthRegistry, docker_httpd_image: str
) -> None:
    labels = {"rivetr.test": f"regauth-{uuid.uuid4().hex[:8]}"}
    asked: list[str] = []

    async def stored(server: str) -> dict[str, str] | None:
        asked.append(server)
        if server != auth_registry.server:
            return None
        return {
            "username": auth_registry.username,
            "password": auth_registry.password,
            "serveraddress": server,
        }

    spec = RunSpec(
        image=docker_httpd_image, name=unique_name("regauth"), labels=labels, container_port=HTTPD_PORT
    )
    without = SwarmRuntime(swarm_engine.docker_socket, registry=auth_registry.server, project_firewall=False)
    runtime = SwarmRuntime(
        swarm_engine.docker_socket,
        registry=auth_registry.server,
        registry_auth=stored,
        project_firewall=False,
    )
    pushed = ""
    try:
        # No stored credentials: the registry refuses the push, and no service is left.
        with pytest.raises(RivetrError) as refused:
            await without.run(spec)
        assert "pushing" in refused.value.message and auth_registry.server in refused.value.message
        assert await without.list(labels=labels) == []

        info = await runtime.run(spec)
        assert asked == [auth_registry.server]
        assert auth_registry.password not in repr(info)
        assert await wait_http(info.host_port or 0) == (200, "hello from rivetr\n")
        service = await runtime._call(lambda: runtime._api().inspect_service(info.id))
        pushed = service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
        repository, _, digest = pushed.partition("@")
        assert repository.startswith(f"{auth_registry.server}/") and digest.startswith("sha256:")
        path = repository.split("/", 1)[1]
        status = await asyncio.to_thread(_manifest_status, auth_registry, path, digest)
        assert status == 200  # the registry has exactly what the service runs
    finally:
        leftover = _docker("service", "ls", "-q", "--filter", f"label=rivetr.test={labels['rivetr.test']}")
        if leftover.stdout.split():
            _docker("service", "rm", *leftover.stdout.split())
        await _remove_all(runtime, labels)
        if pushed:
            _docker("rmi", pushed)
        await runtime.close()
        await without.close()


def _manifest_status(registry: AuthRegistry, path: str, digest: str) -> int:
    answer = httpx.get(
        f"https://{registry.server}/v2/{path}/manifests/{digest}",
        auth=(registry.username, registry.password),
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        verify=str(registry.ca_file),
        timeout=10,
    )
    return answer.status_code


def _jumps() -> list[str]:
    """The DOCKER-USER rules that jump to our chain."""
    chain = subprocess.run(["iptables", "-S", "DOCKER-USER"], capture_output=True, text=True, timeout=30)
    return [line for line in chain.stdout.splitlines() if firewall.CHAIN in line]


@contextlib.contextmanager
def _outside_client() -> Iterator[tuple[str, str]]:
    """A network namespace joined to the host by a veth pair: ``(namespace, host address)``. Its address is no
    swarm node's, and what it sends to the host's address is forwarded like a remote client's."""
    if shutil.which("ip") is None:
        pytest.skip("iproute2 is not installed")
    tag = uuid.uuid4().hex[:6]
    ns, host_if, ns_if = f"rivetr-fw-{tag}", f"rfw{tag}h", f"rfw{tag}n"
    subnet = f"10.253.{int(tag[:2], 16)}"
    steps = [
        ["ip", "netns", "add", ns],
        ["ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if],
        ["ip", "link", "set", ns_if, "netns", ns],
        ["ip", "addr", "add", f"{subnet}.1/30", "dev", host_if],
        ["ip", "link", "set", host_if, "up"],
        ["ip", "netns", "exec", ns, "ip", "addr", "add", f"{subnet}.2/30", "dev", ns_if],
        ["ip", "netns", "exec", ns, "ip", "link", "set", ns_if, "up"],
        ["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"],
        ["ip", "netns", "exec", ns, "ip", "route", "add", "default", "via", f"{subnet}.1"],
    ]
    try:
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True, timeout=30)
            assert done.returncode == 0, (step, done.stderr)
        yield ns, f"{subnet}.1"
    finally:
        subprocess.run(["ip", "link", "del", host_if], capture_output=True, timeout=30)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)


def _fetch_from(ns: str, address: str, port: int) -> bool:
    """Whether an HTTP GET from namespace ``ns`` to ``address:port`` is answered (3 s to connect)."""
    code = (
        "import socket,sys\n"
        f"s=socket.create_connection(('{address}',{port}),timeout=3)\n"
        "s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n'); sys.exit(0 if s.recv(64).startswith(b'HTTP/') else 1)\n"
    )
    done = subprocess.run(["ip", "netns", "exec", ns, "python3", "-c", code], capture_output=True, timeout=30)
    return done.returncode == 0


async def test_published_port_firewall(swarm_engine: EngineEnv, docker_httpd_image: str) -> None:
    if os.geteuid() != 0 or shutil.which("iptables") is None:
        pytest.skip("the published-port firewall needs root and iptables")
    labels = {"rivetr.test": f"fw-{uuid.uuid4().hex[:8]}"}
    runtime = SwarmRuntime(swarm_engine.docker_socket, port_firewall=True, project_firewall=False)
    rules = firewall.PortFirewall()
    # On an overlay network, as every task Rivetr runs is (a task without one is on the default bridge instead
    # of docker_gwbridge).
    network = await runtime.ensure_network(unique_name("fwnet"), labels)
    try:
        info = await runtime.run(
            RunSpec(
                image=docker_httpd_image,
                name=unique_name("fw"),
                labels=labels,
                container_port=HTTPD_PORT,
                network=network,
            )
        )
        nodes = firewall.node_addresses(await runtime._call(lambda: runtime._api().nodes()))
        assert nodes, "the swarm names its nodes' addresses"
        assert rules.current() == [" ".join(rule) for rule in firewall.rules(nodes)]
        assert rules.has_jump()
        # Idempotent: nothing changes, one jump only.
        assert await runtime._call(firewall.sync, runtime.firewall, runtime._api()) is False
        assert len(_jumps()) == 1, _jumps()
        # The host's own proxy reaches the task at 127.0.0.1 (not forwarded traffic).
        port = info.host_port or 0
        assert await wait_http(port) == (200, "hello from rivetr\n")
        with _outside_client() as (ns, address):
            assert not _fetch_from(ns, address, port), "a non-node client reached a published port"
            firewall.switch_off(rules)
            assert rules.current() == [] and not rules.has_jump()
            assert _fetch_from(ns, address, port), "without the rule the port answers (the test can fail)"
        assert await wait_http(port) == (200, "hello from rivetr\n")
    finally:
        await _remove_all(runtime, labels)
        await runtime.remove_network(network)
        rules.remove()
        await runtime.close()
