"""``rivetr system cleanup [--last]`` against a real ``rivetr serve`` process: the report of a run printed for
people and as JSON, and ``--last`` showing that same report without running another; ``rivetr system status``,
``metrics --window`` (a bad window refused by the API, its message shown) and ``disk-usage``."""

from __future__ import annotations

import json
import re
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


def test_status_names_engine_proxy_database_and_plugins(env: dict[str, str], server: ServerProcess) -> None:
    # Under RIVETR_TEST_DATABASE=postgres the server has a PostgreSQL database of its own.
    backend = "postgresql" if server.database_url else "sqlite"
    result = run(["system", "status", "--json"], env)
    status = json.loads(result.stdout)
    assert result.exit_code == (0 if status["status"] == "ok" else 1), result.output
    assert status["proxy"]["state"] == "disabled" and status["database"]["size_bytes"] > 0
    text = run(["system", "status"], env)
    assert "proxy:    disabled" in text.stdout, text.output
    # The size itself moves between the two calls (the write-ahead log grows): its shape is checked.
    shape = rf"^database: {backend}, \d+(\.\d)? (B|KiB|MiB|GiB) \(ok\)$"
    assert re.search(shape, text.stdout, re.M), text.output
    assert f"plugins:  {len(status['plugins'])}" in text.stdout, text.output


def test_metrics_window_and_a_bad_window(env: dict[str, str]) -> None:
    # The sampler takes its first sample as the server starts.
    data = json.loads(run(["system", "metrics", "--window", "24h", "--points", "5", "--json"], env).stdout)
    assert (
        data["range"] == "24h" and 1 <= len(data["points"]) <= 5 and data["latest"]["memory_total_bytes"] > 0
    )
    text = run(["system", "metrics", "--window", "24h"], env)
    assert text.exit_code == 0, text.output
    assert "cpu:" in text.stdout and "NET IN/S" in text.stdout, text.output
    bad = run(["system", "metrics", "--window", "1w"], env)
    assert bad.exit_code != 0 and "range: Must look like 15m, 1h, 24h or 7d" in bad.output, bad.output


def test_disk_usage_lists_an_app(env: dict[str, str], server: ServerProcess) -> None:
    with server.client() as client:
        created = client.post(
            "/api/apps", json={"name": "cli-disk", "git_url": "https://git.example.com/a/b.git", "port": 80}
        )
        assert created.status_code == 201, created.text
    usage = json.loads(run(["system", "disk-usage", "--json"], env).stdout)
    [row] = [r for r in usage["apps"] if r["name"] == "cli-disk"]
    assert row["build_logs"] == {"count": 0, "bytes": 0} and row["total_bytes"] == 0
    text = run(["system", "disk-usage"], env)
    assert text.exit_code == 0, text.output
    line = next(line for line in text.stdout.splitlines() if line.startswith("cli-disk"))
    assert line.split()[:2] == ["cli-disk", "app"] and "0 B (0 lines)" in line, text.stdout
    assert "total: " in text.stdout
