"""Project networks (``ensure_project_network``) are isolated from each other on both engines and across
them, by Rivetr's own host firewall: containers of one project reach each other by alias, never a container
of another project, also after an unrelated network empties (netavark then drops its own isolation jump);
the host reaches every container by its address."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from rivetr_runtime_docker.project_firewall import CHAIN, project_bridge_name

from rivetr_core.contract import RivetrError, RunSpec
from tests.support.engines import BASE_IMAGE, SESSION_ID, SESSION_LABEL, unique_name

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("iptables") is None, reason="needs root and iptables"
    ),
]

#: A busybox TCP server answering "hi" on 8080 to every connection.
SERVER = ["sh", "-c", "while true; do echo hi | nc -l -p 8080; done"]


def chain() -> str:
    return subprocess.run(["iptables", "-w", "10", "-S", CHAIN], capture_output=True, text=True).stdout


async def reach(runtime: Any, client_id: str, host: str) -> bool:
    out = await runtime.exec(client_id, ["sh", "-c", f"nc -w 2 {host} 8080 </dev/null"])
    return out.exit_code == 0 and out.output == "hi\n"


def host_reaches(ip: str) -> bool:
    for _ in range(30):
        with contextlib.suppress(OSError), socket.create_connection((ip, 8080), 2) as conn:
            if conn.recv(10) == b"hi\n":
                return True
        time.sleep(0.1)  # the server's nc restarts between connections
    return False


@contextlib.asynccontextmanager
async def project(runtime: Any, labels: dict[str, str]) -> AsyncIterator[str]:
    name = unique_name("proj")
    await runtime.ensure_project_network(name, {SESSION_LABEL: SESSION_ID})
    try:
        yield name
    finally:
        for container in await runtime.list(labels=labels):
            with contextlib.suppress(RivetrError):
                await runtime.remove(container.id, force=True)
        await runtime.remove_network(name)
        bridge = project_bridge_name(runtime.name, name)
        assert f"-i {bridge} -o {bridge}" not in chain()  # its rule went with it


async def start(runtime: Any, labels: dict[str, str], network: str, alias: str, cmd: list[str]) -> Any:
    return await runtime.run(
        RunSpec(
            image=BASE_IMAGE,
            name=unique_name(alias),
            labels=labels,
            command=cmd,
            network=network,
            network_aliases=[alias],
        )
    )


async def test_projects_are_isolated_on_one_engine(runtime: Any, test_labels: dict[str, str]) -> None:
    async with project(runtime, test_labels) as net_a, project(runtime, test_labels) as net_b:
        bridge = project_bridge_name(runtime.name, net_a)
        assert f"-A {CHAIN} -i {bridge} -o {bridge} -j RETURN" in chain()
        assert await runtime.ensure_project_network(net_a, {}) == net_a  # idempotent
        assert chain().count(f"-i {bridge} -o {bridge}") == 1
        a1 = await start(runtime, test_labels, net_a, "a1", ["sleep", "300"])
        a2 = await start(runtime, test_labels, net_a, "a2", SERVER)
        b1 = await start(runtime, test_labels, net_b, "b1", SERVER)
        b1_ip = (await runtime.inspect(b1.id)).networks[net_b]
        a2_ip = (await runtime.inspect(a2.id)).networks[net_a]
        assert host_reaches(a2_ip) and host_reaches(b1_ip)  # the host (the proxy) reaches both projects
        assert await reach(runtime, a1.id, "a2")
        assert not await reach(runtime, a1.id, b1_ip)

        # An unrelated network empties (podman's netavark then removes its FORWARD isolation jump):
        # Rivetr's rules do not depend on it.
        other = unique_name("other")
        await runtime.ensure_network(other, {SESSION_LABEL: SESSION_ID})
        try:
            lone = await start(runtime, test_labels, other, "lone", SERVER)
            assert not await reach(runtime, lone.id, a2_ip)  # another container bridge into a project
            await runtime.remove(lone.id, force=True)
        finally:
            await runtime.remove_network(other)
        assert not await reach(runtime, a1.id, b1_ip)
        assert await reach(runtime, a1.id, "a2")


async def test_projects_are_isolated_across_engines(
    docker_runtime: Any, podman_runtime: Any, test_labels: dict[str, str]
) -> None:
    async with project(docker_runtime, test_labels) as d_net, project(podman_runtime, test_labels) as p_net:
        d_server = await start(docker_runtime, test_labels, d_net, "dsrv", SERVER)
        p_server = await start(podman_runtime, test_labels, p_net, "psrv", SERVER)
        d_client = await start(docker_runtime, test_labels, d_net, "dcli", ["sleep", "300"])
        p_client = await start(podman_runtime, test_labels, p_net, "pcli", ["sleep", "300"])
        d_ip = (await docker_runtime.inspect(d_server.id)).networks[d_net]
        p_ip = (await podman_runtime.inspect(p_server.id)).networks[p_net]
        assert host_reaches(d_ip) and host_reaches(p_ip)
        assert await reach(docker_runtime, d_client.id, "dsrv")
        assert await reach(podman_runtime, p_client.id, "psrv")
        assert not await reach(docker_runtime, d_client.id, p_ip)
        assert not await reach(podman_runtime, p_client.id, d_ip)


async def test_older_network_without_bridge_label_is_recreated_when_unused(
    runtime: Any, test_labels: dict[str, str]
) -> None:
    name = unique_name("legacy")
    await runtime.ensure_network(name, {SESSION_LABEL: SESSION_ID})  # what an older Rivetr made
    try:
        user = await start(runtime, test_labels, name, "old", ["sleep", "300"])
        # In use: kept as it is, without a firewall rule.
        assert await runtime.ensure_project_network(name, {SESSION_LABEL: SESSION_ID}) == name
        bridge = project_bridge_name(runtime.name, name)
        assert f"-i {bridge} " not in chain()
        assert (await runtime.inspect(user.id)).running
        await runtime.remove(user.id, force=True)
        # Unused now: made again as a project network.
        await runtime.ensure_project_network(name, {SESSION_LABEL: SESSION_ID})
        raw = await runtime._call(lambda: runtime._api().inspect_network(name))
        assert raw["Labels"]["rivetr.bridge"] == bridge and raw["Labels"]["rivetr.project-network"] == "true"
        assert f"-i {bridge} -o {bridge} -j RETURN" in chain()
    finally:
        for container in await runtime.list(labels=test_labels):
            await runtime.remove(container.id, force=True)
        with contextlib.suppress(RivetrError):
            await runtime.remove_network(name)
    assert f"-i {project_bridge_name(runtime.name, name)} " not in chain()


async def test_without_iptables_it_is_a_clear_error_unless_the_firewall_is_off(
    runtime: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rivetr_runtime_docker import project_firewall

    name = unique_name("nofw")
    real_which = shutil.which
    monkeypatch.setattr(
        project_firewall.shutil, "which", lambda cmd: None if "iptables" in cmd else real_which(cmd)
    )
    try:
        with pytest.raises(RivetrError, match="project_firewall = false"):
            await runtime.ensure_project_network(name, {SESSION_LABEL: SESSION_ID})
        runtime.project_firewall = False
        assert await runtime.ensure_project_network(name, {SESSION_LABEL: SESSION_ID}) == name
    finally:
        monkeypatch.undo()
        await runtime.remove_network(name)
