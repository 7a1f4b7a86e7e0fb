"""A route key's compression switch (issue 22) through the API, the CLI and a real proxy process: on by default,
``PUT /api/routes/settings/{key} {"compression": false}`` makes the proxy pass that route's responses as the app
sent them, bad values get a field error; ``rivetr routes set KEY --no-compression`` does the same."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rivetr_core.cli.main import cli
from tests.support.cli import cli_env, module_server
from tests.support.compression import ContentBackend, make_body
from tests.support.server import ServerProcess

DOMAIN = "zip.example.com"


@pytest.fixture
def backend() -> Iterator[ContentBackend]:
    b = ContentBackend()
    yield b
    b.stop()


def _encoding(port: int) -> str | None:
    """The Content-Encoding of a 30 KB HTML page fetched through the proxy, asking for gzip (body checked)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request("GET", "/body?size=30000", headers={"Host": DOMAIN, "Accept-Encoding": "gzip"})
        r = c.getresponse()
        raw = r.read()
    finally:
        c.close()
    encoding = r.getheader("Content-Encoding")
    if encoding is None:
        assert raw == make_body(30000)
    return encoding


async def test_route_compression_switch_through_the_api(routed: Any, backend: ContentBackend) -> None:
    import asyncio

    api, port = routed
    status, created = await api.post("/api/routes", json={"domain": DOMAIN, "upstreams": [backend.address]})
    assert status == 201, created
    status, settings = await api.get(f"/api/routes/settings/{DOMAIN}")
    assert status == 200 and settings["compression"] is True
    assert await asyncio.to_thread(_encoding, port) == "gzip"

    status, settings = await api.put(f"/api/routes/settings/{DOMAIN}", json={"compression": False})
    assert status == 200 and settings["compression"] is False, settings
    assert await asyncio.to_thread(_encoding, port) is None
    status, listed = await api.get("/api/routes")
    assert [r["settings"]["compression"] for r in listed["items"] if r["key"] == DOMAIN] == [False]

    for bad in ("yes", None, 1):
        status, body = await api.put(f"/api/routes/settings/{DOMAIN}", json={"compression": bad})
        assert status in (400, 422), (bad, body)
        assert "compression" in json.dumps(body["error"]), body
    status, settings = await api.get(f"/api/routes/settings/{DOMAIN}")
    assert settings["compression"] is False  # refused changes changed nothing

    status, settings = await api.put(f"/api/routes/settings/{DOMAIN}", json={"compression": True})
    assert status == 200 and settings["compression"] is True
    assert await asyncio.to_thread(_encoding, port) == "gzip"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from module_server(tmp_path_factory, "cli-route-compression")


def test_cli_routes_set_compression(server: ServerProcess, tmp_path: Path) -> None:
    env = cli_env(server, tmp_path)

    def run(*args: str) -> Any:
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    assert run("routes", "add", "zip.cli.test", "127.0.0.1:9001").exit_code == 0
    shown = run("routes", "show", "zip.cli.test")
    assert "compression" in shown.output and "on" in shown.output.split("compression", 1)[1].split("\n")[0]
    off = run("routes", "set", "zip.cli.test", "--no-compression")
    assert off.exit_code == 0, off.output
    assert "off" in off.output.split("compression", 1)[1].split("\n")[0], off.output
    assert json.loads(run("routes", "show", "zip.cli.test", "--json").output)["compression"] is False
    assert "no compression" in run("routes", "list").output
    on = run("routes", "set", "zip.cli.test", "--compression", "--json")
    assert on.exit_code == 0 and json.loads(on.output)["compression"] is True
