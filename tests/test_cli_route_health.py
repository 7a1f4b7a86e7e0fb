"""``rivetr routes list`` against a real ``rivetr serve`` with the real built-in proxy: an upstream the proxy ejected
(it refuses connections; the requests that met it were retried on the other, so every client got a 200) is
marked ``(ejected until …Z)`` next to its address, the healthy one is not (docs/proxy-health.md)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner

from rivetr_core.cli.main import cli
from tests.support.cli import cli_env
from tests.support.proxy import free_port, http_get
from tests.support.server import ServerProcess


def test_routes_list_marks_an_ejected_upstream(
    rivetr_server: Callable[..., ServerProcess], backend_factory: Any, tmp_path: Path
) -> None:
    server = rivetr_server(
        env={
            "RIVETR_PROXY__ENABLED": "true",
            "RIVETR_PLUGINS__PROXY_BUILTIN__KEEP_RUNNING": "false",
            "RIVETR_PLUGINS__PROXY_BUILTIN__HEALTH_INTERVAL": "60",
            "RIVETR_PLUGINS__PROXY_BUILTIN__OUTLIER_CONSECUTIVE_FAILURES": "2",
            "RIVETR_PLUGINS__PROXY_BUILTIN__OUTLIER_BASE_EJECTION": "120",
        }
    )
    env = cli_env(server, tmp_path)
    good, dead = backend_factory("good"), f"127.0.0.1:{free_port()}"
    added = CliRunner().invoke(cli, ["routes", "add", "eject.cli.test", dead, good.address], env=env)
    assert added.exit_code == 0, added.output
    proxy = httpx.get(server.url + "/api/proxy", headers={"Authorization": f"Bearer {server.token}"}).json()
    assert [http_get(proxy["port"], "eject.cli.test")[:3:2] for _ in range(6)] == [(200, b"good")] * 6
    listed = CliRunner().invoke(cli, ["routes", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    line = next(ln for ln in listed.output.splitlines() if ln.startswith("eject.cli.test"))
    assert re.search(
        rf"{re.escape(dead)} \(ejected until \d\d:\d\d:\d\dZ\) {re.escape(good.address)}\s+manual", line
    ), listed.output
