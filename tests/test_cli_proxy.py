"""``rivetr proxy status | restart | stop`` and what ``rivetr serve`` says about the proxy: a real ``rivetr
serve`` with the built-in proxy, stopped; the proxy keeps serving; the CLI (its own processes, reading the
same configuration) finds it, restarts it on the same port and stops it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.proxy import http_get
from tests.support.server import start_server
from tests.support.waiting import wait_for


def _env(data_dir: Path) -> dict[str, str]:
    return {
        "RIVETR_SERVER__DATA_DIR": str(data_dir),
        "RIVETR_SERVER__PROXY_PORT": "0",
        "RIVETR_SERVER__PROXY_HTTPS_PORT": "0",
        "RIVETR_PROXY__HOST": "127.0.0.1",
        "RIVETR_PROXY__ENABLED": "true",
    }


def rivetr(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RIVETR_")} | _env(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "rivetr_core.cli.main", "proxy", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_proxy_outlives_serve_and_is_controlled_from_the_cli(tmp_path: Path, backend_factory) -> None:  # type: ignore[no-untyped-def]
    data_dir = tmp_path / "data"
    server = start_server(data_dir, _env(data_dir))
    try:
        b = backend_factory("cli")
        import httpx

        r = httpx.post(
            server.url + "/api/routes",
            json={"domain": "cli.proxy.test", "upstreams": [b.address]},
            headers={"Authorization": f"Bearer {server.token}"},
        )
        assert r.status_code == 201, r.text
        assert server.stop() == 0
        log = server.log_path.read_text()
        assert "keeps serving the apps after Rivetr stops" in log and "rivetr proxy stop" in log, log[-2000:]

        st = rivetr(data_dir, "status", "--json")
        assert st.returncode == 0, st.stderr
        status = json.loads(st.stdout)
        assert status["running"] and status["routes"] == 1 and status["version"]
        port, old_pid = status["port"], status["pid"]
        assert http_get(port, "cli.proxy.test")[2] == b"cli"  # serving while rivetr serve is gone
        human = rivetr(data_dir, "status")
        assert f"pid {old_pid}" in human.stdout and f":{port}" in human.stdout

        res = rivetr(data_dir, "restart")
        assert res.returncode == 0, res.stderr
        assert f"pid {old_pid} -> " in res.stdout
        after = json.loads(rivetr(data_dir, "status", "--json").stdout)
        assert after["pid"] != old_pid and after["port"] == port and after["routes"] == 1
        assert http_get(port, "cli.proxy.test")[2] == b"cli"

        stop = rivetr(data_dir, "stop")
        assert stop.returncode == 0 and f"stopped the proxy (pid {after['pid']})" in stop.stdout, stop
        wait_for(lambda: not (data_dir / "proxy" / "proxy.pid").exists(), what="the proxy's pid file to go")
        gone = rivetr(data_dir, "status")
        assert gone.returncode == 1 and "not running" in gone.stdout
        assert rivetr(data_dir, "stop").stdout.strip() == "the proxy is not running"
    finally:
        server.stop()
        server.stop_proxy()


def test_proxy_group_lists_its_commands() -> None:
    from click.testing import CliRunner

    from rivetr_core.cli.main import cli

    out = CliRunner().invoke(cli, ["proxy", "--help"]).output
    for name in ("status", "stop", "restart", "logs"):
        assert f"  {name} " in out, out
