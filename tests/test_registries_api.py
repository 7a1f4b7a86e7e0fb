"""``/api/registries`` against a REAL private registry (Debian's docker-registry, htpasswd auth, TLS from a test
CA: tests/support/auth_registry.py; no container engine involved): creation logs in (201, the password masked
and encrypted at rest), wrong credentials and an unreachable server are a 422 naming the field, names and
servers are unique, delete forgets them, image pulls find the credentials by server, and an idle server never
loads the feature. Image apps pulling with these credentials: tests/e2e/test_image_apps.py."""

from __future__ import annotations

import base64
import json
import shutil
import ssl
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support.auth_registry import AuthRegistry, running_auth_registry
from tests.support.proxy import free_port
from tests.support.server import ApiClient, make_config

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def auth_registry() -> Iterator[AuthRegistry]:
    yield from running_auth_registry()


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[ApiClient]:
    from rivetr_core.app import create_app

    app = create_app(make_config(tmp_path / "data"))
    async with app.test_app():
        yield ApiClient(app)


def body_for(registry: AuthRegistry, **extra: Any) -> dict[str, Any]:
    return {
        "name": "private",
        "server": registry.server,
        "username": registry.username,
        "password": registry.password,
        **extra,
    }


async def test_good_credentials_are_stored_encrypted_and_masked(
    api: ApiClient, auth_registry: AuthRegistry
) -> None:
    code, created = await api.post(
        "/api/registries", json=body_for(auth_registry, server=f"https://{auth_registry.server}/")
    )
    assert code == 201, created
    assert created["server"] == auth_registry.server  # scheme and slash given by habit are dropped
    assert created["password"] == "********" and auth_registry.password not in str(created)
    code, page = await api.get("/api/registries")
    assert code == 200 and [r["name"] for r in page["items"]] == ["private"] and page["next"] is None
    assert page["items"][0]["password"] == "********"
    code, one = await api.get(f"/api/registries/{created['id']}")
    assert code == 200 and one == created

    from rivetr_core.models.registries import Registry

    async with api.ctx.db.session() as session:
        row = await session.get(Registry, created["id"])
    assert row is not None and auth_registry.password not in row.password_enc
    assert api.ctx.secrets.decrypt(row.password_enc) == auth_registry.password
    auth = await api.ctx.services.registries.auth_for(auth_registry.server)
    assert auth == {
        "username": auth_registry.username,
        "password": auth_registry.password,
        "serveraddress": auth_registry.server,
    }
    assert await api.ctx.services.registries.auth_for("ghcr.io") is None

    code, err = await api.post("/api/registries", json=body_for(auth_registry))
    assert code == 409 and err["error"]["details"][0]["field"] == "name", err
    code, err = await api.post("/api/registries", json=body_for(auth_registry, name="again"))
    assert code == 409 and err["error"]["details"][0]["field"] == "server", err

    code, _ = await api.delete(f"/api/registries/{created['id']}")
    assert code == 204
    code, err = await api.get(f"/api/registries/{created['id']}")
    assert code == 404 and err["error"]["code"] == "not_found"
    assert await api.ctx.services.registries.auth_for(auth_registry.server) is None


async def test_wrong_credentials_are_a_422_naming_the_password(
    api: ApiClient, auth_registry: AuthRegistry
) -> None:
    code, err = await api.post("/api/registries", json=body_for(auth_registry, password="not-the-password"))
    assert code == 422, err
    assert err["error"]["details"][0]["field"] == "password"
    assert "refused the login" in err["error"]["message"] and "not-the-password" not in str(err)
    code, page = await api.get("/api/registries")
    assert page["items"] == []


async def test_an_unreachable_or_untrusted_server_is_a_422_naming_the_server(
    api: ApiClient, auth_registry: AuthRegistry
) -> None:
    code, err = await api.post(
        "/api/registries", json=body_for(auth_registry, server=f"127.0.0.1:{free_port()}")
    )
    assert code == 422 and err["error"]["details"][0]["field"] == "server", err
    assert "Could not reach" in err["error"]["message"]
    # Same registry under a name its certificate does not cover and no CA in certs.d for it: TLS refuses.
    port = auth_registry.server.rsplit(":", 1)[1]
    code, err = await api.post("/api/registries", json=body_for(auth_registry, server=f"localhost:{port}"))
    assert code == 422 and err["error"]["details"][0]["field"] == "server", err
    assert "certs.d/localhost:" in err["error"]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "server": "registry.example.com/team", "username": "u", "password": "p"}, "server"),
        ({"name": "Bad Name", "server": "registry.example.com", "username": "u", "password": "p"}, "name"),
        ({"name": "x", "server": "registry.example.com", "username": "u", "password": ""}, "password"),
        ({"name": "x", "server": "registry.example.com", "username": "u"}, "password"),
    ],
)
async def test_bad_input_names_the_field(api: ApiClient, body: dict[str, Any], field: str) -> None:
    code, err = await api.post("/api/registries", json=body)
    assert code in (400, 422), err
    assert field in str(err["error"]), err


LAZY_PROBE = """
import asyncio, subprocess, sys, tempfile
from pathlib import Path
from tests.support.server import ApiClient, make_config
from rivetr_core.app import create_app
from tests.support.migrate_first import migrated_config

async def main():
    data = Path(tempfile.mkdtemp()) / "data"
    data.mkdir()
    app = create_app(migrated_config(data))
    async with app.test_app():
        api = ApiClient(app)
        code, body = await api.get("/api/apps")
        assert code == 200, body
        ctx = app.extensions["rivetr_ctx"]
        print("idle", "rivetr_core.models.registries" in sys.modules, "registries" in ctx.services.__dict__)
        code, body = await api.get("/api/registries")
        assert code == 200, body
        print("used", "rivetr_core.models.registries" in sys.modules, "registries" in ctx.services.__dict__)

asyncio.run(main())
"""


def test_an_idle_server_never_loads_the_registries_feature() -> None:
    out = subprocess.run(
        [sys.executable, "-c", LAZY_PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(" ", 1) for line in out.stdout.strip().splitlines())
    assert lines == {"idle": "False False", "used": "True True"}, out.stdout


class _TokenRegistry(BaseHTTPRequestHandler):
    """A registry that answers ``/v2/`` with a Bearer challenge (as Docker Hub, GHCR and GitLab do) and a token
    service at ``/token`` that takes basic auth ``user:secret``."""

    token = "tok-123"

    def do_GET(self) -> None:
        host = self.headers["Host"]
        if self.path.startswith("/token"):
            expected = "Basic " + base64.b64encode(b"user:secret").decode()
            if self.headers.get("Authorization") != expected or "service=test-registry" not in self.path:
                self._answer(401, {"errors": [{"code": "UNAUTHORIZED"}]})
            else:
                self._answer(200, {"token": self.token})
        elif self.headers.get("Authorization") == f"Bearer {self.token}":
            self._answer(200, {})
        else:
            challenge = f'Bearer realm="https://{host}/token",service="test-registry"'
            self._answer(401, {}, {"WWW-Authenticate": challenge})

    def _answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        for key, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def token_registry(tmp_path: Path) -> Iterator[str]:
    """The bearer-token registry on TLS from a test CA the engines' certs.d trust; yields its server."""
    from tests.support.auth_registry import CERT_ROOTS
    from tests.support.pebble import cert_pem, key_pem, make_ca, make_leaf

    ca_key, ca_cert = make_ca("token registry CA")
    key, cert = make_leaf(ca_key, ca_cert, ["localhost"], ips=["127.0.0.1"])
    (tmp_path / "tls.crt").write_text(cert_pem(cert))
    (tmp_path / "tls.key").write_text(key_pem(key))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _TokenRegistry)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(tmp_path / "tls.crt"), str(tmp_path / "tls.key"))
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    server = f"127.0.0.1:{httpd.server_address[1]}"
    trusted = [root / server for root in CERT_ROOTS]
    for folder in trusted:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "ca.crt").write_text(cert_pem(ca_cert))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        for folder in trusted:
            shutil.rmtree(folder, ignore_errors=True)


async def test_the_bearer_token_flow_logs_in(api: ApiClient, token_registry: str) -> None:
    body = {"name": "hub-like", "server": token_registry, "username": "user"}
    code, err = await api.post("/api/registries", json={**body, "password": "nope"})
    assert code == 422 and err["error"]["details"][0]["field"] == "password", err
    code, created = await api.post("/api/registries", json={**body, "password": "secret"})
    assert code == 201 and created["password"] == "********", created
