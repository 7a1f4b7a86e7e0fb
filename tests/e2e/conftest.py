"""End-to-end fixtures: a real ``rivetr serve`` (real proxy process, real engine) and a real git daemon.

``e2e(engine="docker", **config)`` starts ``rivetr serve`` with the builtin proxy on a free loopback port and
``[runtime] runtime_type = engine``; the returned :class:`Rivetr` drives it over HTTP (``api``), fetches
through the proxy by Host header (``fetch``), waits for deployments and inspects the engine. Teardown stops
the server, shuts the (otherwise long-lived) proxy process down and removes every container and image this
Rivetr instance created, whatever the test did.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rivetr_core.models.apps import TERMINAL_STATUSES
from tests.support import at_rest
from tests.support.engines import ensure_engine
from tests.support.proxy import free_port, http_get
from tests.support.server import ServerProcess, start_server

TERMINAL = ("running", *TERMINAL_STATUSES)


class EngineCliError(subprocess.CalledProcessError):
    """A failed engine CLI call whose message carries the engine's own words (CalledProcessError's leaves
    stderr out, so a failure in CI said only "exit status 125")."""

    def __str__(self) -> str:
        return f"{super().__str__()}: {(self.stderr or '').strip()[-2000:]}"


class Rivetr:
    def __init__(self, server: ServerProcess, engine: str, proxy_port: int, env: dict[str, str]) -> None:
        self.server = server
        self.engine = engine
        self.proxy_port = proxy_port
        self.env = env
        self.api = server.client(timeout=30)

    # ------------------------------------------------------------------------------------------ API
    def create_app(self, repo: Any, name: str, **extra: Any) -> dict[str, Any]:
        body = {
            "name": name,
            "git_url": repo.url,
            "port": 8000,
            "domains": [f"{name}.e2e.test"],
            "healthcheck_interval": 0.5,
            **extra,
        }
        response = self.api.post("/api/apps", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def deploy(self, app_id: str, **body: Any) -> dict[str, Any]:
        response = self.api.post(f"/api/apps/{app_id}/deploy", json=body or None)
        assert response.status_code == 202, response.text
        return response.json()

    def deployment(self, dep_id: str) -> dict[str, Any]:
        response = self.api.get(f"/api/deployments/{dep_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def wait(self, dep_id: str, statuses: tuple[str, ...] = TERMINAL, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            dep = self.deployment(dep_id)
            if dep["status"] in statuses:
                return dep
            if time.monotonic() > deadline:
                logs = self.api.get(f"/api/deployments/{dep_id}/logs").json()
                raise AssertionError(
                    f"deployment still {dep['status']}: {dep}\n" + "\n".join(x["line"] for x in logs[-30:])
                )
            time.sleep(0.05)

    def deploy_and_wait(self, app_id: str, **body: Any) -> dict[str, Any]:
        """Deploy and wait until it runs and its drain step (old container removed) is over."""
        dep = self.wait(self.deploy(app_id, **body)["id"])
        if dep["status"] != "running":
            logs = self.api.get(f"/api/deployments/{dep['id']}/logs").json()
            raise AssertionError(f"{dep}\n" + "\n".join(x["line"] for x in logs[-30:]))
        return self.wait_drained(dep)

    def wait_drained(self, dep: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while "finished_at" not in dep["steps"].get("drain", {}) and time.monotonic() < deadline:
            time.sleep(0.05)
            dep = self.deployment(dep["id"])
        return dep

    def fetch(self, host: str, path: str = "/") -> tuple[int, str]:
        status, _, body = http_get(self.proxy_port, host, path, timeout=10)
        return status, body.decode(errors="replace")

    def wait_content(self, host: str, expected: str, path: str = "/", timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            try:
                last = self.fetch(host, path)
                if last == (200, expected):
                    return
            except OSError as exc:
                last = exc
            time.sleep(0.1)
        raise AssertionError(f"{host}{path} never served {expected!r}; last: {last!r}")

    # --------------------------------------------------------------------------------------- engine
    def instance_id(self) -> str:
        return str(at_rest.query(self.server, "SELECT value FROM meta WHERE key = 'instance_id'")[0][0])

    def _cli_env(self) -> dict[str, str]:
        return {**os.environ, "CONTAINERS_CONF": self.env.get("CONTAINERS_CONF", "")}

    def cli(self, *args: str) -> str:
        proc = subprocess.run(
            [self.engine, *args], capture_output=True, text=True, env=self._cli_env(), timeout=60
        )
        if proc.returncode != 0:
            raise EngineCliError(proc.returncode, proc.args, proc.stdout, proc.stderr)
        return proc.stdout

    def containers(self, *, running_only: bool = False) -> list[str]:
        """Ids (full) of this instance's containers."""
        args = ["ps", "-q", "--no-trunc", "--filter", f"label=rivetr.instance={self.instance_id()}"]
        if not running_only:
            args.insert(1, "-a")
        return [line for line in self.cli(*args).split() if line]

    def images(self, app_name: str) -> list[str]:
        # Only this instance's images: a run killed before its clean-up leaves same-named images behind.
        out = self.cli(
            "images",
            "--filter",
            f"label=rivetr.instance={self.instance_id()}",
            "--format",
            "{{.Repository}}:{{.Tag}}",
        )
        return [line for line in out.split() if line.startswith(f"localhost/rivetr/{app_name}:")]

    def cleanup(self) -> None:
        try:
            ids = self.containers()
        except Exception:
            ids = []
        env = self._cli_env()
        if ids:
            subprocess.run([self.engine, "rm", "-f", *ids], capture_output=True, timeout=60, env=env)
        try:
            images = self.cli(
                "images", "-q", "--filter", f"label=rivetr.instance={self.instance_id()}"
            ).split()
        except Exception:
            images = []
        if images:
            subprocess.run([self.engine, "rmi", "-f", *set(images)], capture_output=True, timeout=60, env=env)
        try:  # project and stack networks this instance made (dockerd has ~30 address pools in all)
            networks = self.cli(
                "network", "ls", "-q", "--filter", f"label=rivetr.instance={self.instance_id()}"
            ).split()
        except Exception:
            networks = []
        for network in networks:
            subprocess.run([self.engine, "network", "rm", network], capture_output=True, timeout=60, env=env)
        try:  # apps' named volumes (a test may keep them on purpose)
            volumes = self.cli(
                "volume", "ls", "-q", "--filter", f"label=rivetr.instance={self.instance_id()}"
            ).split()
        except Exception:
            volumes = []
        if volumes:
            subprocess.run(
                [self.engine, "volume", "rm", "-f", *volumes], capture_output=True, timeout=60, env=env
            )


def shutdown_proxy(data_dir: Path) -> None:
    """The proxy outlives the control plane on purpose; tests must stop it themselves."""
    from rivetr_proxy_builtin.backend import BuiltinProxy, master_pid
    from rivetr_proxy_builtin.settings import ProxySettings

    from rivetr_core.config import load_config

    proxy = BuiltinProxy(ProxySettings.from_config(load_config(None)), data_dir / "proxy")
    try:
        asyncio.run(proxy.shutdown(timeout=5))
    except Exception:
        pid = master_pid(data_dir / "proxy")  # never a stale file's pid: it may be anyone's by now
        if pid is not None:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def start_rivetr(
    engine: str, data_dir: Path, *, proxy_port: int | None = None, **env_overrides: str
) -> Rivetr:
    """``rivetr serve`` on ``engine`` with the builtin proxy on a free loopback port (tests and benches)."""
    values = ensure_engine(engine)
    for attempt in range(3):
        try:
            return _start_rivetr(engine, data_dir, values, proxy_port or free_port(), env_overrides)
        except RuntimeError as exc:
            # A port free when picked may be taken before the proxy binds it (an outgoing connection's
            # ephemeral port, another test's listener): pick another, unless the test chose this one.
            if proxy_port or "Address already in use" not in str(exc) or attempt == 2:
                raise
    raise AssertionError("unreachable")


def _start_rivetr(
    engine: str, data_dir: Path, values: dict[str, str], port: int, env_overrides: dict[str, str]
) -> Rivetr:
    socket_key = "RIVETR_RUNTIME__DOCKER_SOCKET" if engine == "docker" else "RIVETR_RUNTIME__PODMAN_SOCKET"
    env = {
        "RIVETR_PROXY__ENABLED": "true",
        "RIVETR_SERVER__PROXY_PORT": str(port),
        "RIVETR_RUNTIME__RUNTIME_TYPE": engine,
        socket_key: values.get("DOCKER_SOCKET" if engine == "docker" else "PODMAN_SOCKET", ""),
        "RIVETR_RATE_LIMIT__ENABLED": "false",
        **({"CONTAINERS_CONF": values["CONTAINERS_CONF"]} if values.get("CONTAINERS_CONF") else {}),
        **env_overrides,
    }
    server = start_server(data_dir, env, timeout=60)
    return Rivetr(server, engine, port, values)


#: Faster drains and crash restarts than the defaults: e2e tests wait on them.
E2E_ENV = {
    "RIVETR_PROXY__DRAIN_TIMEOUT": "5",
    "RIVETR_RUNTIME__CRASH_CHECK_INTERVAL": "0.5",
    "RIVETR_RUNTIME__RESTART_BACKOFF_SECONDS": "0.2",
}


@pytest.fixture
def e2e(tmp_path: Path) -> Iterator[Callable[..., Rivetr]]:
    started: list[Rivetr] = []

    def factory(
        engine: str = "docker",
        *,
        data_dir: Path | None = None,
        proxy_port: int | None = None,
        **env_overrides: str,
    ) -> Rivetr:
        rivetr = start_rivetr(
            engine,
            data_dir or tmp_path / f"rivetr{len(started)}",
            proxy_port=proxy_port,
            **{**E2E_ENV, **env_overrides},
        )
        started.append(rivetr)
        return rivetr

    yield factory
    for rivetr in started:
        rivetr.server.stop(timeout=15)
        rivetr.cleanup()
        shutdown_proxy(rivetr.server.data_dir)


def ws_messages(
    url: str,
    token: str,
    *,
    until: Callable[[dict[str, Any]], bool],
    timeout: float = 60,
    on_open: Callable[[], None] | None = None,
) -> list[dict[str, Any]]:
    """Collect JSON messages from a WebSocket until ``until(message)`` or the server closes it."""
    from websockets.sync.client import connect

    messages: list[dict[str, Any]] = []
    with connect(url, additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=10) as ws:
        if on_open:
            on_open()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                message = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            except TimeoutError:
                break
            except Exception:  # closed by the server
                break
            messages.append(message)
            if until(message):
                break
    return messages


__all__ = ["Rivetr", "e2e", "ws_messages"]
