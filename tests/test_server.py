"""The control plane as a real process: start, /health, auth, OpenAPI, errors, graceful shutdown."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.support.server import ADMIN_TOKEN, ServerProcess, start_server

# Its server never deploys: it runs beside the engine tests (tests/support/workers.py).
pytestmark = pytest.mark.engine_free


@pytest.fixture
def server(tmp_path: Path):  # type: ignore[no-untyped-def]
    proc = start_server(tmp_path / "data")
    yield proc
    proc.stop(signal.SIGKILL)


def test_health_and_auth(server: ServerProcess) -> None:
    health = httpx.get(server.url + "/health").json()
    assert health["database"] == "ok" and "version" not in health  # strangers get states only
    assert "runtime" in health and "proxy" in health
    with server.client() as client:
        assert client.get("/health").json()["version"]
    assert httpx.get(server.url + "/api/plugins").status_code == 401
    wrong = httpx.get(server.url + "/api/plugins", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "unauthorized"
    with server.client() as client:
        plugins = client.get("/api/plugins").json()["items"]
    assert {p["name"] for p in plugins} >= {"runtime-docker", "proxy-builtin", "core-http-health"}
    assert all({"name", "version", "hooks"} <= set(p) for p in plugins)


def test_cryptography_loaded_only_when_a_secret_is_handled(server: ServerProcess) -> None:
    """Its Rust extension is ~7 MB of resident memory, so an idle control plane must not map it (the idle RSS
    budget); storing a secret env var must then load it and work."""
    maps = Path(f"/proc/{server.proc.pid}/maps")
    extension = "cryptography/hazmat/bindings/_rust"
    assert extension not in maps.read_text()
    with server.client() as client:
        created = client.post("/api/apps", json={"name": "web", "git_url": "https://git.example.com/w.git"})
        assert created.status_code == 201, created.text
        env = f"/api/apps/{created.json()['id']}/env-vars"
        stored = client.post(env, json={"key": "API_KEY", "value": "s3cr3t", "is_secret": True})
        assert stored.status_code == 201, stored.text
        assert client.get(env + "/API_KEY?reveal=true").json()["value"] == "s3cr3t"
    assert extension in maps.read_text()


def test_argon2_loaded_only_when_a_password_is_hashed(rivetr_server: Callable[..., ServerProcess]) -> None:
    """Password hashing serves logins only: argon2-cffi's extension is mapped after the first account is set up,
    not in an idle control plane."""
    server = rivetr_server()
    maps = Path(f"/proc/{server.proc.pid}/maps")
    extension = "_argon2_cffi_bindings"
    assert extension not in maps.read_text()
    answer = httpx.post(
        server.url + "/api/auth/setup",
        json={"username": "admin", "password": "correct horse battery"},
        headers={"Authorization": f"Bearer {server.token}"},
    )
    assert answer.status_code == 201, answer.text
    assert extension in maps.read_text()


def test_first_start_with_the_proxy_keeps_cryptography_and_alembic_out_of_the_server(
    rivetr_server: Callable[..., ServerProcess],
) -> None:
    """A first start migrates the database and makes the proxy's fallback certificate in child processes."""
    from tests.support.proxy import free_port

    env = {
        "RIVETR_PROXY__ENABLED": "true",
        "RIVETR_SERVER__PROXY_PORT": str(free_port()),
        "RIVETR_SERVER__PROXY_HTTPS_PORT": str(free_port()),
    }
    server = rivetr_server(env)
    assert (server.data_dir / "proxy" / "certs" / "_fallback.crt").exists()
    assert "cryptography/hazmat/bindings/_rust" not in Path(f"/proc/{server.proc.pid}/maps").read_text()
    health = httpx.get(server.url + "/health").json()
    assert health["database"] == "ok" and health["proxy"]


def test_request_id_echoed_and_generated(server: ServerProcess) -> None:
    given = httpx.get(server.url + "/health", headers={"X-Request-Id": "abc-123"})
    assert given.headers["X-Request-Id"] == "abc-123"
    generated = httpx.get(server.url + "/health", headers={"X-Request-Id": "bad id with spaces"})
    assert (
        generated.headers["X-Request-Id"] != "bad id with spaces"
        and len(generated.headers["X-Request-Id"]) == 16
    )


def test_json_errors(server: ServerProcess) -> None:
    with server.client() as client:
        missing = client.get("/api/does-not-exist")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        wrong_method = client.put("/api/plugins")
        assert (
            wrong_method.status_code == 405 and wrong_method.json()["error"]["code"] == "method_not_allowed"
        )
        bad_json = client.post(
            "/api/routes", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        error = bad_json.json()["error"]
        assert bad_json.status_code == 400 and error["code"] == "invalid_json", error
        assert error["message"].startswith("The request body is not valid JSON: "), error
        as_text = client.post("/api/routes", content=b"domain=x", headers={"Content-Type": "text/plain"})
        error = as_text.json()["error"]
        assert as_text.status_code == 415 and error["code"] == "unsupported_media_type", error
        assert "Content-Type: application/json" in error["message"] and "text/plain" in error["message"]
        no_body = client.post("/api/routes")
        error = no_body.json()["error"]
        assert no_body.status_code == 422 and error["message"] == "A JSON request body is required", error
        # Query-string validation keeps its own message (it is not about the body).
        bad_query = client.get("/api/audit", params={"limit": "many"})
        assert bad_query.status_code == 422 and "limit" in bad_query.json()["error"]["message"]
        invalid = client.post("/api/routes", json={"domain": "-bad-", "upstreams": []})
        body = invalid.json()["error"]
        assert invalid.status_code == 422 and body["code"] == "validation_error"
        assert {d["field"] for d in body["details"]} == {"domain", "upstreams"}


def test_openapi_and_docs(server: ServerProcess) -> None:
    spec = httpx.get(server.url + "/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    assert "/api/routes" in spec["paths"] and "/api/plugins" in spec["paths"]
    create = spec["paths"]["/api/routes"]["post"]
    assert "domain" in create["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert "201" in create["responses"]
    docs = httpx.get(server.url + "/docs")
    assert docs.status_code == 200 and "openapi.json" in docs.text


def test_sigterm_exits_zero_quickly(server: ServerProcess) -> None:
    started = time.monotonic()
    code = server.stop(signal.SIGTERM, timeout=10)
    assert code == 0, server.log()
    assert time.monotonic() - started < 10
    assert not (server.data_dir / "api.addr").exists()


def _install_third_party_plugin(site: Path) -> None:
    """A minimal third-party distribution on PYTHONPATH: importlib.metadata finds its entry point exactly
    as it would after ``pip install rivetr-slow``."""
    (site / "rivetr_slow.py").write_text(
        "import asyncio\n"
        "from quart import Blueprint\n"
        "from rivetr_core import hookimpl\n"
        "from rivetr_core.contract import BlueprintRegistration\n"
        "bp = Blueprint('slow', __name__)\n"
        "@bp.get('/slow')\n"
        "async def slow():\n"
        "    await asyncio.sleep(1.5)\n"
        "    return {'done': True}\n"
        "@hookimpl\n"
        "def rivetr_blueprints():\n"
        "    return [BlueprintRegistration(name='slow', blueprint=bp)]\n"
    )
    dist = site / "rivetr_slow-1.2.3.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: rivetr-slow\nVersion: 1.2.3\n")
    (dist / "entry_points.txt").write_text("[rivetr]\nslow = rivetr_slow\n")


def test_third_party_plugin_and_sigterm_finishes_in_flight_request(tmp_path: Path) -> None:
    import threading

    site = tmp_path / "site"
    site.mkdir()
    _install_third_party_plugin(site)
    server = start_server(tmp_path / "d", {"PYTHONPATH": f"{site}:{os.environ.get('PYTHONPATH', '')}"})
    with server.client() as client:
        listed = {p["name"]: p for p in client.get("/api/plugins").json()["items"]}
    assert listed["slow"]["version"] == "1.2.3" and listed["slow"]["hooks"] == ["rivetr_blueprints"]
    result: dict[str, object] = {}

    def slow_call() -> None:
        with httpx.Client(base_url=server.url) as client:
            response = client.get("/slow", timeout=15)
            result["status"], result["body"] = response.status_code, response.json()

    thread = threading.Thread(target=slow_call)
    thread.start()
    time.sleep(0.5)  # the request is now in flight
    started = time.monotonic()
    assert server.stop(signal.SIGTERM) == 0
    thread.join(15)
    assert result == {"status": 200, "body": {"done": True}}
    assert time.monotonic() - started < 10


def test_admin_token_generated_once_and_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"RIVETR_AUTH__ADMIN_TOKEN": ""}
    first = start_server(data, env)
    first.stop()
    token_file = data / "admin.token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    token = token_file.read_text().strip()
    # stderr is a file here, not a terminal: the log names the file, never the token (tests/test_binds.py)
    assert token not in first.log() and str(token_file) in first.log()
    second = start_server(data, env)
    second.stop()
    assert token_file.read_text().strip() == token
    assert token not in second.log()  # not printed again
    with httpx.Client() as client:
        third = start_server(data, env)
        try:
            ok = client.get(third.url + "/api/plugins", headers={"Authorization": f"Bearer {token}"})
            assert ok.status_code == 200
        finally:
            third.stop()


def test_busy_port_gives_clear_error(tmp_path: Path) -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    port = blocker.getsockname()[1]
    env = {
        **os.environ,
        "RIVETR_SERVER__DATA_DIR": str(tmp_path),
        "RIVETR_SERVER__API_PORT": str(port),
        "RIVETR_SERVER__HOST": "127.0.0.1",
        "RIVETR_PROXY__ENABLED": "false",
        "RIVETR_AUTH__ADMIN_TOKEN": ADMIN_TOKEN,
    }
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "rivetr_core.cli.main", "serve"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        blocker.close()
    assert proc.returncode != 0
    assert f"API port {port}" in proc.stderr and "already in use" in proc.stderr


def test_corrupt_database_refuses_to_start(tmp_path: Path) -> None:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "rivetr.db").write_bytes(b"garbage" * 1000)
    env = {
        **os.environ,
        "RIVETR_SERVER__DATA_DIR": str(tmp_path),
        "RIVETR_SERVER__API_PORT": "0",
        "RIVETR_PROXY__ENABLED": "false",
        "RIVETR_AUTH__ADMIN_TOKEN": ADMIN_TOKEN,
    }
    proc = subprocess.run(
        [sys.executable, "-m", "rivetr_core.cli.main", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "not a usable SQLite file" in proc.stderr
    assert (tmp_path / "rivetr.db").read_bytes().startswith(b"garbage")


def test_invalid_config_refuses_to_start(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[server]\napi_port = -1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "rivetr_core.cli.main", "serve", "--config", str(bad)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "server.api_port" in proc.stderr


LAZY_FEATURE_PROBE = """
import asyncio, subprocess, sys, tempfile
from pathlib import Path
from tests.support.server import ApiClient, make_config
from rivetr_core.app import create_app
from tests.support.migrate_first import migrated_config

FEATURE = ("rivetr_core.services.backups", "rivetr_core.models.backups")

async def main():
    data = Path(tempfile.mkdtemp()) / "data"
    data.mkdir()
    # as `rivetr serve` does: migrations run in a child process, never loading every table in the server
    app = create_app(migrated_config(data))
    async with app.test_app():
        print("idle", [m for m in FEATURE if m in sys.modules])
        code, body = await ApiClient(app).get("/api/backup-destinations")
        assert code == 200, body
        print("used", [m for m in FEATURE if m in sys.modules])

asyncio.run(main())
"""


def test_backups_load_with_their_first_use_not_at_start() -> None:
    """Feature code an idle control plane never runs (the backup service and its tables) stays unloaded until
    the feature is used: the idle memory budget pays only for what serving needs."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-c", LAZY_FEATURE_PROBE], cwd=root, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "idle []" in out.stdout, out.stdout
    assert "used ['rivetr_core.services.backups', 'rivetr_core.models.backups']" in out.stdout, out.stdout
