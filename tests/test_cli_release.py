"""``rivetr apps create/update --release-command --release-timeout --post-deploy-command`` against a real
``rivetr serve`` process: the settings reach the app, ``''`` clears a command, a bad timeout is refused."""

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
    yield from module_server(tmp_path_factory, "cli-release")


@pytest.fixture
def env(server: ServerProcess, tmp_path: Path) -> dict[str, str]:
    return cli_env(server, tmp_path)


def _app(server: ServerProcess, app_id: str) -> dict:
    with server.client() as client:
        return client.get(f"/api/apps/{app_id}").json()  # type: ignore[no-any-return]


def test_create_and_update_the_release_phase(server: ServerProcess, env: dict[str, str]) -> None:
    made = run(
        [
            "apps",
            "create",
            "rel-made",
            "--git",
            "https://git.example.test/acme/rel.git",
            "--release-command",
            "python manage.py migrate --noinput",
            "--release-timeout",
            "120",
            "--json",
        ],
        env,
    )
    assert made.exit_code == 0, made.output
    app = _app(server, json.loads(made.stdout)["id"])
    assert (app["release_command"], app["release_timeout"], app["post_deploy_command"]) == (
        "python manage.py migrate --noinput",
        120.0,
        None,
    )
    shown = run(["apps", "show", "rel-made"], env)
    assert "python manage.py migrate --noinput" in shown.stdout and "120 s" in shown.stdout

    changed = run(
        ["apps", "update", "rel-made", "--post-deploy-command", "./bin/warm", "--release-command", ""], env
    )
    assert changed.exit_code == 0, changed.output
    assert "post-deploy command" in changed.stdout and "./bin/warm" in changed.stdout
    assert "saved; applies at the next deployment" in changed.stdout
    app = _app(server, app["id"])
    assert app["release_command"] is None and app["post_deploy_command"] == "./bin/warm"
    assert app["release_timeout"] == 120.0  # untouched

    listed = run(["apps", "update", "rel-made", "--json"], env)
    assert json.loads(listed.stdout)["post_deploy_command"] == "./bin/warm"

    bad = run(["apps", "update", "rel-made", "--release-timeout", "0"], env)
    assert bad.exit_code != 0 and "release-timeout" in bad.output


def test_the_progress_line_shows_the_release_step_when_there_is_one() -> None:
    import click

    from rivetr_core.cli.follow import progress_line

    done = {"clone": {"duration_ms": 400.0}, "build": {"duration_ms": 900.0}}
    releasing = progress_line("starting", {**done, "release": {"started_at": "…"}})
    assert click.unstyle(releasing) == "clone ✓ 0.4s · build ✓ 0.9s · release ● · start · health · switch"
    starting = progress_line("starting", {**done, "release": {"duration_ms": 2000.0}})
    assert (
        click.unstyle(starting) == "clone ✓ 0.4s · build ✓ 0.9s · release ✓ 2.0s · start ● · health · switch"
    )
    failed = progress_line("failed", {**done, "release": {"duration_ms": 3000.0}})
    assert click.unstyle(failed) == "clone ✓ 0.4s · build ✓ 0.9s · release ✗ 3.0s · start · health · switch"
    without = progress_line("starting", done)
    assert click.unstyle(without) == "clone ✓ 0.4s · build ✓ 0.9s · start ● · health · switch"
