"""The built-in tcp and command health checks against real containers, once on dockerd and once on podman
(``runtime`` fixture): a busybox httpd container, and a container where nothing listens on the app port."""

from __future__ import annotations

import asyncio
import time

from rivetr_core.builtin.command_health import CommandHealthCheck
from rivetr_core.builtin.tcp_health import TcpHealthCheck
from rivetr_core.contract import ContainerInfo, ContainerRuntime, HealthResult, HealthTarget
from rivetr_core.plugins import RivetrPluginManager
from tests.support.engines import BASE_IMAGE, HTTPD_PORT, run_container


def _target(info: ContainerInfo, runtime: ContainerRuntime, **kw: object) -> HealthTarget:
    assert info.upstream, info
    host, _, port = info.upstream.rpartition(":")
    return HealthTarget(host=host, port=int(port), container_id=info.id, runtime=runtime, **kw)  # type: ignore[arg-type]


async def _until_ok(check: TcpHealthCheck | CommandHealthCheck, target: HealthTarget) -> HealthResult:
    """Retry like the pipeline does: a container's process listens a moment after the engine says it runs."""
    deadline = time.monotonic() + 15
    while True:
        result = await check.check(target)
        if result.ok or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.1)


def test_tcp_and_command_are_registered_like_third_party_checks() -> None:
    checks = RivetrPluginManager(load_entrypoints=False).health_checks()
    assert {"http", "tcp", "command"} <= set(checks)
    assert {p.name for p in RivetrPluginManager(load_entrypoints=False).plugin_infos()} >= {
        "core-tcp-health",
        "core-command-health",
    }


async def test_tcp_check(runtime, httpd_image, test_labels) -> None:
    # publish=False: the check reaches the container's own address, as the pipeline does by default (a
    # published port would answer through the engine's port forwarder even with nothing behind it).
    up = await run_container(
        runtime, httpd_image, test_labels, "tcp-up", container_port=HTTPD_PORT, publish=False
    )
    result = await _until_ok(TcpHealthCheck(), _target(up, runtime, timeout=2))
    assert result.ok, result
    assert result.detail.startswith(f"port {HTTPD_PORT} accepts") and result.latency_ms is not None

    silent = await run_container(
        runtime,
        BASE_IMAGE,
        test_labels,
        "tcp-down",
        container_port=9999,
        publish=False,
        command=["sleep", "60"],
    )
    result = await TcpHealthCheck().check(_target(silent, runtime, timeout=2))
    assert not result.ok
    assert result.detail.startswith(("connection failed", "connect timed out")), result


async def test_command_check(runtime, httpd_image, test_labels) -> None:
    info = await run_container(runtime, httpd_image, test_labels, "cmd", container_port=HTTPD_PORT)
    check = CommandHealthCheck()

    def target(command: list[str], timeout: float = 10) -> HealthTarget:
        return _target(info, runtime, timeout=timeout, options={"command": command})

    ok = await _until_ok(check, target(["sh", "-c", "test -f /www/index.html && wget -qO- 127.0.0.1:8000/"]))
    assert ok.ok, ok
    assert ok.detail == "exit 0: hello from rivetr"

    failed = await check.check(target(["sh", "-c", "echo not ready >&2; exit 3"]))
    assert not failed.ok
    assert failed.detail == "exit 3: not ready"

    missing = await check.check(target(["/no/such/program"]))
    assert not missing.ok
    assert missing.detail.startswith(("exit 126", "exit 127", "command could not run")), missing

    slow = await check.check(target(["sleep", "5"], timeout=0.5))
    assert (slow.ok, slow.detail) == (False, "command timed out after 0.5s")

    assert not (await check.check(_target(info, runtime, options={}))).ok  # no command configured
