"""``rivetr apps create/update --config-path`` against a real ``rivetr serve`` process: where an app's
rivetr.toml is, ``''`` turning it off, an escaping path refused with the API's message (issue 24)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import cli_env, module_server
from tests.support.server import ServerProcess
from tests.test_cli import run


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from module_server(tmp_path_factory, "cli-config-path")


@pytest.fixture
def env(server: ServerProcess, tmp_path: Path) -> dict[str, str]:
    return cli_env(server, tmp_path)


def _get(server: ServerProcess, path: str) -> dict:
    with server.client() as client:
        return client.get(path).json()  # type: ignore[no-any-return]


def test_config_path_option(server: ServerProcess, env: dict[str, str]) -> None:
    git = ["--git", "https://git.example.test/acme/mono.git"]
    made = run(["apps", "create", "cfg-web", *git, "--config-path", "deploy/web.toml", "--json"], env)
    assert made.exit_code == 0, made.output
    app_id = json.loads(made.stdout)["id"]
    assert _get(server, f"/api/apps/{app_id}")["config_path"] == "deploy/web.toml"
    shown = run(["apps", "show", "cfg-web"], env)
    assert shown.exit_code == 0 and "deploy/web.toml" in shown.stdout, shown.output

    off = run(["apps", "update", "cfg-web", "--config-path", ""], env)
    assert off.exit_code == 0, off.output
    assert "off (deployments ignore rivetr.toml)" in off.stdout, off.stdout
    assert _get(server, f"/api/apps/{app_id}")["config_path"] is None

    bad = run(["apps", "update", "cfg-web", "--config-path", "../other/rivetr.toml"], env)
    assert bad.exit_code != 0
    assert "config_path" in bad.output and "no '..'" in bad.output, bad.output
    assert _get(server, f"/api/apps/{app_id}")["config_path"] is None

    plain = run(["apps", "create", "cfg-plain", *git, "--json"], env)
    assert plain.exit_code == 0, plain.output
    assert json.loads(plain.stdout)["config_path"] == "rivetr.toml"
