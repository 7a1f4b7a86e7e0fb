"""``rivetr apps builder`` / ``apps health-check`` / ``apps create --builder --health-check`` against a real
``rivetr serve`` process: the choices reach the app, and an unknown name is the server's clear error listing
what is installed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import ServerProcess, start_server
from tests.test_cli import create_app, run


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = start_server(tmp_path_factory.mktemp("cli-selection") / "data")
    yield proc
    proc.stop()


@pytest.fixture
def env(server: ServerProcess, tmp_path: Path) -> dict[str, str]:
    return {"RIVETR_URL": server.url, "RIVETR_TOKEN": server.token, "RIVETR_LOGIN_FILE": str(tmp_path / "l")}


def _app(server: ServerProcess, app_id: str) -> dict:
    with server.client() as client:
        return client.get(f"/api/apps/{app_id}").json()  # type: ignore[no-any-return]


def test_create_with_a_builder_and_a_command_check(server: ServerProcess, env: dict[str, str]) -> None:
    made = run(
        [
            "apps",
            "create",
            "sel-made",
            "--git",
            "https://git.example.test/acme/sel.git",
            "--builder",
            "dockerfile",
            "--health-command",
            "test -f /tmp/ready",
            "--json",
        ],
        env,
    )
    assert made.exit_code == 0, made.output
    app = _app(server, json.loads(made.stdout)["id"])
    assert app["builder"] == "dockerfile"
    assert app["health_check"]["kind"] == "command"
    assert app["health_check"]["command"] == ["sh", "-c", "test -f /tmp/ready"]
    shown = run(["apps", "show", "sel-made"], env)
    assert "dockerfile" in shown.stdout and "command test -f /tmp/ready" in shown.stdout


def test_builder_and_health_check_commands(server: ServerProcess, env: dict[str, str]) -> None:
    app = create_app(server, "sel-edit", healthcheck_path="/up", healthcheck_retries=9)
    shown = run(["apps", "health-check", "sel-edit"], env)
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.strip() == "health check: http GET /up (expects 2xx/3xx), 9 attempts, 5.0s timeout"

    changed = run(["apps", "health-check", "sel-edit", "--kind", "tcp", "--retries", "4"], env)
    assert changed.exit_code == 0, changed.output
    check = _app(server, app["id"])["health_check"]
    assert (check["kind"], check["retries"]) == ("tcp", 4) and "path" not in check

    changed = run(["apps", "health-check", "sel-edit", "--interval", "0.5", "--json"], env)
    assert changed.exit_code == 0, changed.output
    assert json.loads(changed.stdout)["kind"] == "tcp"  # the kind is kept when only timing changes
    assert _app(server, app["id"])["healthcheck_interval"] == 0.5

    changed = run(["apps", "health-check", "sel-edit", "--path", "/healthz", "--status", "204"], env)
    assert changed.exit_code == 0, changed.output
    check = _app(server, app["id"])["health_check"]
    assert (check["kind"], check["path"], check["status"]) == ("http", "/healthz", 204)

    assert run(["apps", "builder", "sel-edit"], env).stdout.startswith("builder: auto")
    assert run(["apps", "builder", "sel-edit", "dockerfile"], env).exit_code == 0
    assert _app(server, app["id"])["builder"] == "dockerfile"


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (
            ["apps", "builder", "sel-bad", "no-such-builder"],
            "auto, autodetect, buildpacks, dockerfile, nixpacks",
        ),
        (["apps", "health-check", "sel-bad", "--kind", "grpc"], "command, http, tcp"),
    ],
)
def test_unknown_names_are_a_clear_error(
    server: ServerProcess, env: dict[str, str], args: list[str], names: str
) -> None:
    if args[2] == "sel-bad" and not any(a["name"] == "sel-bad" for a in _apps(server)):
        create_app(server, "sel-bad")
    result = run(args, env)
    assert result.exit_code != 0
    assert f"is installed (available: {names}" in result.output
    assert "(HTTP 422)" in result.output


def _apps(server: ServerProcess) -> list[dict]:
    with server.client() as client:
        return client.get("/api/apps").json()["items"]  # type: ignore[no-any-return]
