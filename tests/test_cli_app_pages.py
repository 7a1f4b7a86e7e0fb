"""``rivetr apps maintenance`` and ``rivetr apps error-page`` against a real ``rivetr serve`` (issue 22;
docs/proxy-error-pages.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rivetr_core.cli.main import cli
from tests.support.cli import cli_env, module_server
from tests.support.server import ServerProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from module_server(tmp_path_factory, "cli-app-pages", {})


@pytest.fixture
def env(server: ServerProcess, tmp_path: Path) -> dict[str, str]:
    return cli_env(server, tmp_path)


def run(args: list[str], env: dict[str, str]) -> Any:
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


def test_maintenance_and_error_pages(server: ServerProcess, env: dict[str, str], tmp_path: Path) -> None:
    with server.client() as http:
        created = http.post(
            "/api/apps", json={"name": "web", "source": {"kind": "image", "image": "nginx:1"}}
        )
        assert created.status_code == 201, created.text
        app_id = created.json()["id"]

    on = run(["apps", "maintenance", "web", "on", "--message", "Back soon"], env)
    assert on.exit_code == 0, on.output
    assert "maintenance:" in on.output and "Back soon" in on.output
    with server.client() as http:
        assert http.get(f"/api/apps/{app_id}/error-pages").json()["maintenance"] is True

    page = tmp_path / "down.html"
    page.write_text("<h1>Down</h1>")
    set_page = run(["apps", "error-page", "web", "503", "--file", str(page), "--json"], env)
    assert set_page.exit_code == 0, set_page.output
    assert json.loads(set_page.output)["error_pages"] == {"503": "<h1>Down</h1>"}

    off = json.loads(run(["apps", "maintenance", "web", "off", "--json"], env).output)
    assert off["maintenance"] is False and off["error_pages"] == {"503": "<h1>Down</h1>"}
    cleared = json.loads(run(["apps", "error-page", "web", "503", "--clear", "--json"], env).output)
    assert cleared["error_pages"] == {}

    big = tmp_path / "big.html"
    big.write_text("x" * (64 * 1024 + 1))
    refused = CliRunner().invoke(cli, ["apps", "error-page", "web", "502", "--file", str(big)], env=env)
    assert refused.exit_code != 0 and "html" in refused.output, refused.output
    neither = CliRunner().invoke(cli, ["apps", "error-page", "web", "502"], env=env)
    assert neither.exit_code == 2 and "--file" in neither.output
