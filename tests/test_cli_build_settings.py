"""``rivetr apps create/update`` build overrides, ``rivetr env set --scope`` and ``rivetr deploy --no-cache``
against a real ``rivetr serve`` process: the settings reach the app, ``''`` clears an override, bad values are
refused with the API's message."""

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
    yield from module_server(tmp_path_factory, "cli-build")


@pytest.fixture
def env(server: ServerProcess, tmp_path: Path) -> dict[str, str]:
    return cli_env(server, tmp_path)


def _get(server: ServerProcess, path: str) -> dict:
    with server.client() as client:
        return client.get(path).json()  # type: ignore[no-any-return]


def test_build_overrides(server: ServerProcess, env: dict[str, str]) -> None:
    made = run(
        [
            "apps",
            "create",
            "bld-made",
            "--git",
            "https://git.example.test/acme/bld.git",
            "--start-command",
            "gunicorn -b 0.0.0.0:$PORT app:app",
            "--build-context",
            "services/web",
            "--json",
        ],
        env,
    )
    assert made.exit_code == 0, made.output
    app = _get(server, f"/api/apps/{json.loads(made.stdout)['id']}")
    assert (app["start_command"], app["build_context"], app["install_command"]) == (
        "gunicorn -b 0.0.0.0:$PORT app:app",
        "services/web",
        None,
    )
    changed = run(
        ["apps", "update", "bld-made", "--base-image", "python:3.11-slim", "--start-command", ""], env
    )
    assert changed.exit_code == 0, changed.output
    assert "python:3.11-slim" in changed.stdout and "start command" in changed.stdout
    app = _get(server, f"/api/apps/{app['id']}")
    assert app["base_image"] == "python:3.11-slim" and app["start_command"] is None

    bad = run(["apps", "update", "bld-made", "--base-image", "Not An Image"], env)
    assert bad.exit_code != 0 and "base_image" in bad.output
    assert _get(server, f"/api/apps/{app['id']}")["base_image"] == "python:3.11-slim"


def test_env_scope_and_no_cache(server: ServerProcess, env: dict[str, str]) -> None:
    made = run(["apps", "create", "bld-env", "--git", "https://git.example.test/acme/env.git", "--json"], env)
    assert made.exit_code == 0, made.output
    app_id = json.loads(made.stdout)["id"]
    assert run(["env", "set", "bld-env", "FLAVOUR=vanilla", "--scope", "build"], env).exit_code == 0
    assert run(["env", "set", "bld-env", "DEBUG=0"], env).exit_code == 0
    listed = run(["env", "list", "bld-env"], env)
    assert any(
        line.split()[:2] == ["FLAVOUR", "vanilla"] and line.split()[-1] == "build"
        for line in listed.stdout.splitlines()
    ), listed.stdout
    # A second set keeps the scope unless one is given, and changes it when given.
    assert run(["env", "set", "bld-env", "FLAVOUR=mint"], env).exit_code == 0
    assert _get(server, f"/api/apps/{app_id}/env-vars/FLAVOUR")["scope"] == "build"
    assert run(["env", "set", "bld-env", "FLAVOUR=mint", "--scope", "both"], env).exit_code == 0
    assert _get(server, f"/api/apps/{app_id}/env-vars/FLAVOUR")["scope"] == "both"
    bad = run(["env", "set", "bld-env", "X=1", "--scope", "image"], env)
    assert bad.exit_code != 0 and "scope" in bad.output

    deployed = run(["deploy", "bld-env", "--no-cache", "--json"], env)
    assert deployed.exit_code == 0, deployed.output
    assert json.loads(deployed.stdout)["no_cache"] is True


def test_dockerfile_update_and_a_detected_port(server: ServerProcess, env: dict[str, str]) -> None:
    made = run(
        ["apps", "create", "bld-port", "--git", "https://git.example.test/acme/port.git", "--json"], env
    )
    assert made.exit_code == 0, made.output
    app_id = json.loads(made.stdout)["id"]
    # No --port: the first deployment records the port its builder detects (docs/builds.md, "The port").
    assert _get(server, f"/api/apps/{app_id}")["port"] is None
    shown = run(["apps", "show", "bld-port"], env)
    assert "(detected at the first deployment)" in shown.stdout, shown.output

    changed = run(["apps", "update", "bld-port", "--dockerfile", "docker/Dockerfile.prod"], env)
    assert changed.exit_code == 0, changed.output
    assert "docker/Dockerfile.prod" in changed.stdout
    assert _get(server, f"/api/apps/{app_id}")["dockerfile"] == "docker/Dockerfile.prod"
    bad = run(["apps", "update", "bld-port", "--dockerfile", "../../etc/passwd"], env)
    assert bad.exit_code != 0 and "dockerfile" in bad.output, bad.output
    assert _get(server, f"/api/apps/{app_id}")["dockerfile"] == "docker/Dockerfile.prod"

    # Renamed and moved to another project (named by name); the id stays.
    assert run(["projects", "create", "bld-proj"], env).exit_code == 0
    moved = run(
        ["apps", "update", "bld-port", "--name", "bld-renamed", "--project", "bld-proj", "--json"], env
    )
    assert moved.exit_code == 0, moved.output
    after = _get(server, f"/api/apps/{app_id}")
    assert after["name"] == "bld-renamed" and after["project_id"] == json.loads(moved.stdout)["project_id"]
    assert after["project_id"] and after["project_id"] != "default"
    clash = run(["apps", "update", "bld-renamed", "--name", "Bad Name"], env)
    assert clash.exit_code != 0 and "name" in clash.output, clash.output

    explicit = run(
        ["apps", "create", "bld-port2", "--git", "https://git.example.test/acme/p2.git", "--port", "9000"],
        env,
    )
    assert explicit.exit_code == 0, explicit.output
    assert run(["apps", "show", "bld-port2", "--json"], env).stdout.count('"port": 9000') == 1
