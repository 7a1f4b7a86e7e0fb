"""The RunSpec fields compose stacks need reach real containers on both engines, checked from inside the
container and with the engine's own inspect document (podman's compat API has quirks of its own)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import uuid
from pathlib import Path
from typing import Any, Literal

import pytest
from rivetr_runtime_docker.runspec import check_port_free

from rivetr_core.contract import HealthcheckConfig, PortInUse, PortPublish, RivetrError, RunSpec
from tests.support.engines import BASE_IMAGE, SESSION_ID, SESSION_LABEL, unique_name

pytestmark = pytest.mark.asyncio


async def raw(runtime: Any, container_id: str) -> dict[str, Any]:
    return await runtime._call(lambda: runtime._api().inspect_container(container_id))


async def wait_health(runtime: Any, container_id: str, want: str, timeout: float = 30.0) -> list[str]:
    """Health states seen until ``want`` (fails after ``timeout``)."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        health = (await runtime.inspect(container_id)).health or "none"
        if not seen or seen[-1] != health:
            seen.append(health)
        if health == want:
            return seen
        await asyncio.sleep(0.2)
    raise AssertionError(f"health never became {want}: {seen}")


async def test_entrypoint_command_workdir_user_env_tmpfs(runtime: Any, test_labels: dict[str, str]) -> None:
    spec = RunSpec(
        image=BASE_IMAGE,
        name=unique_name("fields"),
        labels=test_labels,
        env={"STACK_GREETING": "hi-there"},
        entrypoint=["sh", "-c"],
        command=["while true; do sleep 1; done"],
        working_dir="/tmp",
        user="1234:1234",
        tmpfs={"/scratch": "size=1m"},
        expose=[9999],
        init=False,  # PID 1 is then the entrypoint itself, read back from /proc/1/cmdline
    )
    info = await runtime.run(spec)
    out = await runtime.exec(
        info.id,
        [
            "sh",
            "-c",
            "pwd; id -u; id -g; echo $STACK_GREETING; tr '\\0' ' ' </proc/1/cmdline; echo; "
            "grep ' /scratch ' /proc/mounts",
        ],
    )
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[:4] == ["/tmp", "1234", "1234", "hi-there"]
    assert lines[4].strip() == "sh -c while true; do sleep 1; done"
    assert "tmpfs" in lines[5] and "size=1024k" in lines[5]
    config = (await raw(runtime, info.id))["Config"]
    assert config["Entrypoint"] == ["sh", "-c"] and config["WorkingDir"] == "/tmp"
    assert config["User"] == "1234:1234"
    assert "9999/tcp" in config["ExposedPorts"]
    # Exposed, not published: nothing on the host for it.
    assert info.ports == [] and info.host_port is None


async def test_empty_entrypoint_clears_the_images(
    runtime: Any, test_labels: dict[str, str], tmp_path: Path
) -> None:
    from rivetr_core.contract import BuildSpec

    tag = f"localhost/rivetr-test/entrypoint:{SESSION_ID}-{uuid.uuid4().hex[:6]}"
    (tmp_path / "Dockerfile").write_text(f'FROM {BASE_IMAGE}\nENTRYPOINT ["echo", "from-image"]\n')
    async for _ in runtime.build(BuildSpec(context_dir=tmp_path, tag=tag, labels=test_labels)):
        pass
    kept = await runtime.run(
        RunSpec(image=tag, name=unique_name("ep1"), labels=test_labels, command=["x"], init=False)
    )
    cleared = await runtime.run(
        RunSpec(
            image=tag,
            name=unique_name("ep2"),
            labels=test_labels,
            entrypoint=[],
            command=["sh", "-c", "echo own-command"],
            init=False,
        )
    )
    for _ in range(50):
        if not (await runtime.inspect(kept.id)).running and not (await runtime.inspect(cleared.id)).running:
            break
        await asyncio.sleep(0.1)
    assert [line.line async for line in runtime.logs(kept.id)] == ["from-image x"]
    assert [line.line async for line in runtime.logs(cleared.id)] == ["own-command"]
    assert (await raw(runtime, cleared.id))["Config"].get("Entrypoint") in (None, [], [""])


async def test_healthcheck_starting_then_healthy_and_unhealthy(
    runtime: Any, test_labels: dict[str, str]
) -> None:
    def spec(name: str, test: list[str], period: float) -> RunSpec:
        return RunSpec(
            image=BASE_IMAGE,
            name=unique_name(name),
            labels=test_labels,
            command=["sleep", "300"],
            healthcheck=HealthcheckConfig(test, interval=0.5, timeout=2, retries=2, start_period=period),
        )

    good = await runtime.run(spec("hc-ok", ["CMD-SHELL", "test -e /tmp/ready"], 6.0))
    bad = await runtime.run(spec("hc-bad", ["CMD", "false"], 0.0))
    assert good.health == "starting" and bad.health == "starting"
    check = (await raw(runtime, good.id))["Config"]["Healthcheck"]
    assert (check["Interval"], check["Timeout"], check["Retries"]) == (500_000_000, 2_000_000_000, 2)
    assert check["StartPeriod"] == 6_000_000_000
    await asyncio.sleep(2)  # failing checks within the start period do not count
    assert (await runtime.inspect(good.id)).health == "starting"
    await runtime.exec(good.id, ["touch", "/tmp/ready"])
    assert (await wait_health(runtime, good.id, "healthy"))[-1] == "healthy"
    assert (await wait_health(runtime, bad.id, "unhealthy"))[0] in ("starting", "unhealthy")


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_published_tcp_and_udp_ports_fixed_and_random(
    runtime: Any, test_labels: dict[str, str]
) -> None:
    fixed = free_port(socket.SOCK_STREAM)
    server = "while true; do echo tcp-answer | nc -l -p 8080; done"
    info = await runtime.run(
        RunSpec(
            image=BASE_IMAGE,
            name=unique_name("ports"),
            labels=test_labels,
            command=["sh", "-c", server],
            container_port=8080,  # the app port: 127.0.0.1, random host port
            ports=[
                PortPublish(8080, host_port=fixed, host_ip="127.0.0.1"),
                PortPublish(5353, protocol="udp"),
            ],
        )
    )
    tcp_ports = sorted(p.host_port for p in info.ports if (p.container_port, p.protocol) == (8080, "tcp"))
    assert fixed in tcp_ports and len(tcp_ports) == 2 and all(tcp_ports)
    assert info.host_port in tcp_ports  # one of the container port's own bindings
    udp = [p for p in info.ports if p.protocol == "udp"]
    assert [(p.container_port, p.host_ip) for p in udp] == [(5353, "")]
    udp_port = udp[0].host_port
    assert udp_port > 0
    for port in tcp_ports:
        answer = b""
        for _ in range(50):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 2) as conn:
                answer = conn.recv(100)
            if answer:
                break
            await asyncio.sleep(0.1)
        assert answer == b"tcp-answer\n"
    # The busybox image has no UDP server (its nc has no -u): the engine holding the host's UDP port (its
    # proxy or port reservation) shows the publication is live.
    with pytest.raises(PortInUse):
        check_port_free("", udp_port, "udp")
    bindings = (await raw(runtime, info.id))["HostConfig"]["PortBindings"]
    assert "5353/udp" in bindings


async def test_fixed_port_clash_is_port_in_use_before_anything_is_created(
    runtime: Any, test_labels: dict[str, str]
) -> None:
    cases: list[tuple[int, Literal["tcp", "udp"]]] = [(socket.SOCK_STREAM, "tcp"), (socket.SOCK_DGRAM, "udp")]
    for kind, protocol in cases:
        with socket.socket(socket.AF_INET, kind) as taken:
            taken.bind(("0.0.0.0", 0))
            if kind == socket.SOCK_STREAM:
                taken.listen()
            port = taken.getsockname()[1]
            name = unique_name("clash")
            with pytest.raises(PortInUse) as caught:
                await runtime.run(
                    RunSpec(
                        image=BASE_IMAGE,
                        name=name,
                        labels=test_labels,
                        command=["sleep", "30"],
                        ports=[
                            PortPublish(80, protocol="tcp"),
                            PortPublish(81, host_port=port, protocol=protocol),
                        ],
                    )
                )
            assert str(port) in str(caught.value) and caught.value.details["protocol"] == protocol
            assert await runtime.list(labels=test_labels) == []


async def test_extra_networks_resolve_names_on_both(runtime: Any, test_labels: dict[str, str]) -> None:
    front, back = unique_name("front"), unique_name("back")
    try:
        for network in (front, back):
            await runtime.ensure_network(network, {SESSION_LABEL: SESSION_ID})
        serve = "while true; do echo hi | nc -l -p 8080; done"
        web = await runtime.run(
            RunSpec(
                image=BASE_IMAGE,
                name=unique_name("web"),
                labels=test_labels,
                command=["sh", "-c", serve],
                network=front,
                network_aliases=["web"],
                extra_networks={back: ["web-back", "api"]},
            )
        )
        assert set(web.networks) == {front, back} and all(web.networks.values())
        raw_networks = (await raw(runtime, web.id))["NetworkSettings"]["Networks"]
        assert "api" in (raw_networks[back].get("Aliases") or [])
        clients = {}
        for network in (front, back):
            clients[network] = await runtime.run(
                RunSpec(
                    image=BASE_IMAGE,
                    name=unique_name("cli"),
                    labels=test_labels,
                    command=["sleep", "300"],
                    network=network,
                )
            )
        for network, names in ((front, ["web"]), (back, ["web-back", "api"])):
            for host in names:
                out = await runtime.exec(clients[network].id, ["sh", "-c", f"nc -w 3 {host} 8080 </dev/null"])
                assert (out.exit_code, out.output) == (0, "hi\n"), (network, host, out)
        # A name of the other network does not resolve here.
        out = await runtime.exec(clients[front].id, ["nslookup", "web-back"])
        assert out.exit_code != 0
    finally:
        for container in await runtime.list(labels=test_labels):
            await runtime.remove(container.id, force=True)
        for network in (front, back):
            with contextlib.suppress(RivetrError):
                await runtime.remove_network(network)


async def test_failed_start_on_extra_network_leaves_nothing(
    runtime: Any, test_labels: dict[str, str]
) -> None:
    front = unique_name("front")
    try:
        await runtime.ensure_network(front, {SESSION_LABEL: SESSION_ID})
        with pytest.raises(RivetrError):
            await runtime.run(
                RunSpec(
                    image=BASE_IMAGE,
                    name=unique_name("orphan"),
                    labels=test_labels,
                    command=["sleep", "30"],
                    network=front,
                    extra_networks={unique_name("missing"): []},
                )
            )
        assert await runtime.list(labels=test_labels) == []
    finally:
        with contextlib.suppress(RivetrError):
            await runtime.remove_network(front)
