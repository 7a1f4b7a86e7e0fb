"""``rivetr apps show`` (the default domain line) and ``rivetr apps auto-domain APP [on|off]`` against a real
``rivetr serve`` with ``[proxy] base_domain`` set (issue 22; docs/proxy-auto-domains.md)."""

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

BASE = "apps.cli.test"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from module_server(tmp_path_factory, "cli-auto-domains", {"RIVETR_PROXY__BASE_DOMAIN": BASE})


@pytest.fixture
def env(server: ServerProcess, tmp_path: Path) -> dict[str, str]:
    return cli_env(server, tmp_path)


def run(args: list[str], env: dict[str, str]) -> Any:
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


def test_show_and_switch(server: ServerProcess, env: dict[str, str]) -> None:
    with server.client() as http:
        project = http.post("/api/projects", json={"name": "shop"}).json()
        created = http.post(
            "/api/apps",
            json={
                "name": "web",
                "project_id": project["id"],
                "source": {"kind": "image", "image": "nginx:1"},
            },
        )
        assert created.status_code == 201, created.text

    shown = run(["apps", "show", "web"], env)  # by name: resolved through the list, then read whole
    assert shown.exit_code == 0, shown.output
    assert f"default domain: http://web.shop.{BASE}/" in shown.output, shown.output

    off = run(["apps", "auto-domain", "web", "off"], env)
    assert off.exit_code == 0, off.output
    assert "auto domain:" in off.output and "no" in off.output
    assert f"web.shop.{BASE} (not routed: turned off for this app" in off.output, off.output
    assert "not routed: turned off" in run(["apps", "show", "web"], env).output

    on = json.loads(run(["apps", "auto-domain", "web", "on", "--json"], env).output)
    assert on["auto_domain"] is True and on["default_domain"]["active"] is True
    assert on["default_domain"]["domain"] == f"web.shop.{BASE}"
    bad = CliRunner().invoke(cli, ["apps", "auto-domain", "web", "maybe"], env=env)
    assert bad.exit_code == 2 and "maybe" in bad.output
