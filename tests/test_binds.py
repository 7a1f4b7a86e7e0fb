"""Where a real ``rivetr serve`` listens, and what it tells the operator about the generated admin token.

``[server] api_host`` (API + dashboard) and ``[proxy] host`` (public traffic) are separate binds, so the API can
stay on loopback while apps are served on every address; ``[server] host`` still sets both, with a warning.
"""

from __future__ import annotations

import http.server
import os
import pty
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from click.testing import CliRunner

from rivetr_core.cli.main import cli
from rivetr_core.config import load_config
from tests.support.proxy import free_port
from tests.support.server import ServerProcess, start_server


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a TCP listener on ``port`` (any process: the proxy is a separate one)."""
    return {
        c.laddr.ip
        for c in psutil.net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port
    }


@pytest.fixture
def upstream() -> Iterator[int]:
    """A plain HTTP app on loopback for the proxy to route to."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"app says hi"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_api_on_loopback_while_the_proxy_serves_every_address(
    rivetr_server: Callable[..., ServerProcess], upstream: int
) -> None:
    proxy_port = free_port()
    server = rivetr_server(
        {
            "RIVETR_PROXY__ENABLED": "true",
            "RIVETR_SERVER__API_HOST": "127.0.0.1",
            "RIVETR_PROXY__HOST": "0.0.0.0",
            "RIVETR_SERVER__PROXY_PORT": str(proxy_port),
            "RIVETR_SERVER__PROXY_HTTPS_PORT": str(free_port()),
        }
    )
    api_port = int(server.url.rsplit(":", 1)[1])
    assert listening_addresses(api_port) == {"127.0.0.1"}
    assert listening_addresses(proxy_port) == {"0.0.0.0"}
    with server.client() as client:
        created = client.post(
            "/api/routes", json={"domain": "app.binds.test", "upstreams": [f"127.0.0.1:{upstream}"]}
        )
        assert created.status_code in (200, 201), created.text
    assert "deprecated" not in server.log()

    # The bound addresses above are the proof that only loopback reaches the API; tests talk to loopback only
    # (no traffic to this machine's other addresses), so the proxy's wildcard bind is exercised there.
    deadline = time.monotonic() + 10
    while True:
        response = httpx.get(f"http://127.0.0.1:{proxy_port}/", headers={"Host": "app.binds.test"}, timeout=5)
        if response.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert (response.status_code, response.content) == (200, b"app says hi")


def test_server_host_still_binds_both_with_a_deprecation_warning(
    rivetr_server: Callable[..., ServerProcess],
) -> None:
    proxy_port = free_port()
    server = rivetr_server(
        {
            "RIVETR_SERVER__API_HOST": "",
            "RIVETR_PROXY__HOST": "",
            "RIVETR_SERVER__HOST": "127.0.0.1",
            "RIVETR_PROXY__ENABLED": "true",
            "RIVETR_SERVER__PROXY_PORT": str(proxy_port),
            "RIVETR_SERVER__PROXY_HTTPS_PORT": str(free_port()),
        }
    )
    api_port = int(server.url.rsplit(":", 1)[1])
    assert listening_addresses(api_port) == {"127.0.0.1"}
    assert listening_addresses(proxy_port) == {"127.0.0.1"}
    assert "[server] host is deprecated" in server.log()


def test_config_hosts_fall_back_to_server_host(tmp_path: Path) -> None:
    cfg = load_config(None, server={"host": "10.1.2.3"})
    assert (cfg.server.effective_api_host, cfg.proxy_host) == ("10.1.2.3", "10.1.2.3")
    assert cfg.deprecations() and "api_host" in cfg.deprecations()[0]
    cfg = load_config(None, server={"host": "10.1.2.3", "api_host": "127.0.0.1"}, proxy={"host": "0.0.0.0"})
    assert (cfg.server.effective_api_host, cfg.proxy_host) == ("127.0.0.1", "0.0.0.0")
    cfg = load_config(None)
    assert (cfg.server.effective_api_host, cfg.proxy_host, cfg.deprecations()) == ("0.0.0.0", "0.0.0.0", [])
    path = tmp_path / "old.toml"
    path.write_text('[server]\nhost = "127.0.0.1"\n')
    result = CliRunner().invoke(cli, ["config", "check", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert "[server] host is deprecated" in result.output


# ------------------------------------------------------------------------------- generated admin token
def _serve_env(data: Path) -> dict[str, str]:
    return {
        **os.environ,
        "RIVETR_SERVER__DATA_DIR": str(data),
        "RIVETR_SERVER__API_PORT": "0",
        "RIVETR_SERVER__API_HOST": "127.0.0.1",
        "RIVETR_AUTH__ADMIN_TOKEN": "",
        "RIVETR_PROXY__ENABLED": "false",
    }


def test_generated_token_stays_out_of_a_redirected_log(tmp_path: Path) -> None:
    """stderr to a file (a service manager, a log shipper): the log names the file, never the token."""
    data = tmp_path / "data"
    server = start_server(data, {"RIVETR_AUTH__ADMIN_TOKEN": ""})
    server.stop()
    token_file = data / "admin.token"
    token = token_file.read_text().strip()
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert token not in server.log()
    assert str(token_file) in server.log()
    # Until an account exists, every start says how to make one (the token is the setup page's proof).
    again = start_server(data, {"RIVETR_AUTH__ADMIN_TOKEN": ""})
    again.stop()
    assert f"open /setup and enter the admin token (from {token_file})" in again.log()
    assert token not in again.log()


def test_generated_token_is_printed_on_a_terminal(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "rivetr_core.cli.main", "serve"],
        env=_serve_env(data),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=terminal,
    )
    os.close(terminal)
    output = b""
    try:
        deadline = time.monotonic() + 30
        while b"Rivetr ready" not in output and time.monotonic() < deadline:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal closed: the server exited
                break
            output += chunk
        token = (data / "admin.token").read_text().strip()
        assert token.encode() in output, output.decode(errors="replace")
        addr = (data / "api.addr").read_text().strip().rsplit(":", 1)[1]
        ok = httpx.get(f"http://127.0.0.1:{addr}/api/plugins", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200
    finally:
        proc.terminate()
        proc.wait(15)
        os.close(controller)
