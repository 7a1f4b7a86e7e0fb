"""Fixtures for the control plane: an in-process app with a test client, and a real ``rivetr serve`` process.

* ``make_config(tmp_path, **sections)`` → a validated config with a temp data dir, port 0 everywhere, the proxy
  off unless asked (``proxy={"enabled": True}``), and a known admin token (:data:`ADMIN_TOKEN`).
* ``api`` fixture → an :class:`ApiClient` around Quart's test client, app started (before_serving ran).
* ``rivetr_server`` fixture factory → starts ``rivetr serve`` in a subprocess, waits until ``/health`` answers,
  and returns a :class:`ServerProcess` (``url``, ``token``, ``proc``, ``data_dir``, ``database_url``, ``stop()``).
  Under ``RIVETR_TEST_DATABASE=postgres`` each server gets a PostgreSQL database of its own
  (``RIVETR_DATABASE__URL``); a test that needs the SQLite file passes ``env={"RIVETR_DATABASE__URL": ""}``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from rivetr_core.config import RivetrConfig, load_config

ADMIN_TOKEN = "test-admin-token-0123456789"
#: The statuses a successful deployment passes through, in order (the build-log stream's status events).
PIPELINE_STATUSES = ["queued", "cloning", "building", "starting", "health_checking", "switching", "running"]
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def make_config(data_dir: Path, **sections: Any) -> RivetrConfig:
    base: dict[str, Any] = {
        "server": {"data_dir": str(data_dir), "api_port": 0, "proxy_port": 0, "proxy_https_port": 0},
        "auth": {"admin_token": ADMIN_TOKEN},
        "proxy": {"enabled": False},
        "rate_limit": {"enabled": False},
        "git": {"allow_local": True},
    }
    for key, value in sections.items():
        base[key] = {**base.get(key, {}), **value} if isinstance(value, dict) else value
    from tests.support import postgres

    if postgres.enabled() and "url" not in base.get("database", {}):  # RIVETR_TEST_DATABASE=postgres
        base["database"] = {**base.get("database", {}), "url": postgres.database_url_for(data_dir)}
    return load_config(None, **base)


class Verbs:
    """``get``/``post``/``put``/``delete`` for a test client whose ``request(method, path, **kw)`` returns
    (status, json)."""

    async def request(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        raise NotImplementedError

    async def get(self, path: str, **kw: Any) -> tuple[int, Any]:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, **kw: Any) -> tuple[int, Any]:
        return await self.request("POST", path, **kw)

    async def put(self, path: str, **kw: Any) -> tuple[int, Any]:
        return await self.request("PUT", path, **kw)

    async def delete(self, path: str, **kw: Any) -> tuple[int, Any]:
        return await self.request("DELETE", path, **kw)


class ApiClient(Verbs):
    """Quart test client with the admin token applied; returns (status, json) pairs."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.client = app.test_client()

    @property
    def ctx(self) -> Any:
        return self.app.extensions["rivetr_ctx"]

    async def request(self, method: str, path: str, *, auth: bool = True, **kwargs: Any) -> tuple[int, Any]:
        headers = {**(AUTH if auth else {}), **kwargs.pop("headers", {})}
        response = await self.client.open(path, method=method, headers=headers, **kwargs)
        body = await response.get_data(as_text=True)
        try:
            import json

            data = json.loads(body) if body else None
        except ValueError:
            data = body
        return response.status_code, data


async def websocket_outcome(client: Any, path: str, *, wait: float = 0.3, **kwargs: Any) -> str:
    """Open a WebSocket with a Quart test client: ``"accepted"``, ``"rejected <status>"`` (refused at the
    handshake) or ``"closed <code>"`` (accepted, then closed by the server within ``wait`` seconds: raise it where
    the handler looks things up before closing, on a busy machine)."""
    import asyncio

    from quart.testing.connections import WebsocketDisconnectError, WebsocketResponseError

    try:
        async with client.websocket(path, **kwargs) as ws:
            await ws.send("ping")  # forces the handshake outcome to surface
            try:
                await asyncio.wait_for(ws.receive(), wait)
            except TimeoutError:
                pass
            return "accepted"
    except WebsocketResponseError as exc:
        return f"rejected {exc.response.status_code}"
    except WebsocketDisconnectError as exc:
        return f"closed {exc.args[0] if exc.args else ''}"


@pytest.fixture
def fake_runtime() -> Iterator[Any]:
    """rivetr_core.testing's in-memory runtime; a test puts it in place with ``ctx._runtime = fake_runtime``."""
    from rivetr_core.testing import FakeRuntime

    runtime = FakeRuntime()
    yield runtime
    runtime.shutdown()


@pytest.fixture
def config_factory(tmp_path: Path) -> Callable[..., RivetrConfig]:
    def factory(**sections: Any) -> RivetrConfig:
        return make_config(tmp_path / "data", **sections)

    return factory


@pytest.fixture
async def routed(config_factory: Callable[..., RivetrConfig]) -> AsyncIterator[tuple[ApiClient, int]]:
    """A started in-process app with the real built-in proxy (stopped with the app) and that proxy's HTTP port:
    routes set through the API answer real requests, no container engine needed."""
    from rivetr_core.app import create_app

    config = config_factory(proxy={"enabled": True}, plugins={"proxy-builtin": {"keep_running": False}})
    app = create_app(config)
    async with app.test_app():
        client = ApiClient(app)
        yield client, client.ctx.proxy.port


@pytest.fixture
async def api(config_factory: Callable[..., RivetrConfig]) -> AsyncIterator[ApiClient]:
    """A started in-process app (proxy off, no entry-point-independent assumptions) and its client."""
    from rivetr_core.app import create_app

    app = create_app(config_factory())
    async with app.test_app():
        yield ApiClient(app)


@contextlib.asynccontextmanager
async def api_on(runtime: Any, config: RivetrConfig, plugins: Sequence[Any] = ()) -> AsyncIterator[ApiClient]:
    """A started in-process app whose container engine is ``runtime`` (a fake for logic tests), and its client."""
    from rivetr_core.app import create_app

    app = create_app(config, plugins=list(plugins))
    app.extensions["rivetr_ctx"]._runtime = runtime
    async with app.test_app():
        yield ApiClient(app)


@dataclass
class ServerProcess:
    proc: subprocess.Popen[bytes]
    url: str
    token: str
    data_dir: Path
    log_path: Path
    #: Its PostgreSQL database (``RIVETR_TEST_DATABASE=postgres``, or a test's own ``[database] url``); None: the
    #: SQLite file in ``data_dir``. Tests reach either through tests/support/at_rest.py.
    database_url: str | None = None

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, **kwargs)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop_proxy(self) -> None:
        """The proxy data plane deliberately outlives ``rivetr serve``: end it too (test teardown)."""
        from rivetr_proxy_builtin.backend import master_pid

        pid = master_pid(self.data_dir / "proxy")  # never a stale file's pid: it may be anyone's by now
        if pid is not None:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)

    def remove_networks(self) -> None:
        """Remove the engine networks this instance made (project and stack networks, labelled with its
        instance id) once its containers are gone: dockerd has ~30 address pools, and a long test run would
        use them all up. Best effort, on every engine whose CLI is here; a network still in use stays."""
        from tests.support import at_rest

        try:
            rows = at_rest.query(self, "SELECT value FROM meta WHERE key = 'instance_id'")
        except Exception:  # no database yet (a server that never started), or it is gone
            return
        if not rows:
            return
        row = rows[0]
        for engine in ("docker", "podman"):
            if not shutil.which(engine):
                continue
            try:
                listed = subprocess.run(
                    [engine, "network", "ls", "-q", "--filter", f"label=rivetr.instance={row[0]}"],
                    capture_output=True,
                    text=True,
                    timeout=30,
                ).stdout.split()
                if listed:
                    subprocess.run([engine, "network", "rm", *listed], capture_output=True, timeout=60)
            except (OSError, subprocess.SubprocessError):
                continue

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def _database_url(data_dir: Path, env: dict[str, str], config_file: Path | None) -> str | None:
    """The PostgreSQL database of a ``rivetr serve`` about to start: the test's own choice (its environment's
    ``RIVETR_DATABASE__URL``, an empty one meaning SQLite, or its config file's ``[database] url``), else, under
    ``RIVETR_TEST_DATABASE=postgres``, a copy of the migrated template of its own (tests/support/postgres.py);
    None: the SQLite file in the data dir, as without the switch."""
    from tests.support import postgres

    if "RIVETR_DATABASE__URL" in env:
        return env["RIVETR_DATABASE__URL"].strip() or None
    if config_file is not None:
        import tomllib

        with contextlib.suppress(OSError, tomllib.TOMLDecodeError):  # a broken file is the test's point
            section = tomllib.loads(Path(config_file).read_text()).get("database")
            if isinstance(section, dict) and str(section.get("url") or "").strip():
                return str(section["url"])
    if not postgres.enabled():
        return None
    return postgres.serve_database_url(data_dir)


def start_server(
    data_dir: Path, env: dict[str, str] | None = None, *, config_file: Path | None = None, timeout: float = 20
) -> ServerProcess:
    """Start ``rivetr serve`` and wait for /health to answer (any status)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    addr_file = data_dir / "api.addr"
    addr_file.unlink(missing_ok=True)
    full_env = {
        **os.environ,
        "RIVETR_SERVER__DATA_DIR": str(data_dir),
        "RIVETR_SERVER__API_PORT": "0",
        "RIVETR_SERVER__API_HOST": "127.0.0.1",
        "RIVETR_PROXY__HOST": "127.0.0.1",  # tests never listen beyond loopback unless they ask to
        # Any free ports unless a test names them: tests running side by side must not share :80 and :443.
        "RIVETR_SERVER__PROXY_PORT": "0",
        "RIVETR_SERVER__PROXY_HTTPS_PORT": "0",
        "RIVETR_AUTH__ADMIN_TOKEN": ADMIN_TOKEN,
        "RIVETR_PROXY__ENABLED": "false",
        **(env or {}),
    }
    database_url = _database_url(data_dir, full_env, config_file)
    if database_url is not None:
        full_env["RIVETR_DATABASE__URL"] = database_url
    args = [sys.executable, "-m", "rivetr_core.cli.main", "serve"]
    if config_file:
        args += ["--config", str(config_file)]
    log_path = data_dir / "server.log"
    log_fh = open(log_path, "wb")
    proc = subprocess.Popen(args, env=full_env, stdout=log_fh, stderr=subprocess.STDOUT)
    log_fh.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"rivetr serve exited with {proc.returncode}:\n{log_path.read_text()}")
        if addr_file.exists() and addr_file.read_text().strip():
            _host, port = addr_file.read_text().strip().rsplit(":", 1)
            url = f"http://127.0.0.1:{port}"
            try:
                httpx.get(url + "/health", timeout=2)
                return ServerProcess(
                    proc, url, full_env["RIVETR_AUTH__ADMIN_TOKEN"], data_dir, log_path, database_url
                )
            except httpx.HTTPError:
                pass
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"rivetr serve did not become ready in {timeout}s:\n{log_path.read_text()}")


@pytest.fixture
def rivetr_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Factory fixture: ``rivetr_server(env={...})`` starts a server; all are stopped at teardown."""
    started: list[ServerProcess] = []

    def factory(
        env: dict[str, str] | None = None, *, data_dir: Path | None = None, **kw: Any
    ) -> ServerProcess:
        server = start_server(data_dir or tmp_path / f"server{len(started)}", env, **kw)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop(signal.SIGKILL if server.proc.poll() is None else signal.SIGTERM, timeout=5)
        server.stop_proxy()
        server.remove_networks()


def _patient_test_apps() -> None:
    """Quart's test app gives start-up 6 s; Rivetr's (migrations, plugins, services) takes ~1 s alone but more
    on a 2-core CI machine running engines and browsers at once, where 6 s timed out. One minute, still bounded."""
    from quart import Quart
    from quart.testing.app import TestApp

    class PatientTestApp(TestApp):
        def __init__(self, app: Any, startup_timeout: int = 60, shutdown_timeout: int = 60) -> None:
            super().__init__(app, startup_timeout=startup_timeout, shutdown_timeout=shutdown_timeout)

    Quart.test_app_class = PatientTestApp


_patient_test_apps()
