"""``rivetr system cleanup [--last]`` against a real ``rivetr serve`` process: the report of a run printed for
people and as JSON, and ``--last`` showing that same report without running another."""

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
    yield from module_server(tmp_path_factory, "cli-system")


@pytest.fixture
def env(server: ServerProcess, tmp_path: Path) -> dict[str, str]:
    return cli_env(server, tmp_path)


def test_cleanup_runs_and_last_shows_the_same_report(env: dict[str, str]) -> None:
    result = run(["system", "cleanup", "--last"], env)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "no cleanup has run since the server started"
    assert json.loads(run(["system", "cleanup", "--last", "--json"], env).stdout) is None

    result = run(["system", "cleanup", "--json"], env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert isinstance(report["images_removed"], list) and report["build_logs_removed"] >= 0
    assert report["seconds"] >= 0

    # --last answers the stored report: the same one, not a new run (a new run has its own timing).
    assert json.loads(run(["system", "cleanup", "--last", "--json"], env).stdout) == report

    text = run(["system", "cleanup", "--last"], env)
    assert f"images removed:      {len(report['images_removed'])}" in text.stdout, text.output
    assert f"build logs removed:  {report['build_logs_removed']}" in text.stdout
    # What went wrong (e.g. an engine that does not answer) goes to stderr, one line each.
    assert text.stderr.count("error: ") == len(report["errors"]), text.output


def test_cleanup_needs_a_login(tmp_path: Path, server: ServerProcess) -> None:
    env = {"RIVETR_URL": server.url, "RIVETR_LOGIN_FILE": str(tmp_path / "none.json")}
    result = run(["system", "cleanup"], env)
    assert result.exit_code != 0
    assert "log in" in result.output.lower() or "token" in result.output.lower(), result.output
