"""``rivetr tasks ...`` and ``rivetr schedules deploy|deployments|cancel`` against a real ``rivetr serve`` (no
engine needed: the app is never deployed, so a run fails with "the app has no running container", which is what
``tasks run`` must report and exit 1 on). Runs in a real container: tests/e2e/test_tasks_e2e.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.cli import cli_env, module_server
from tests.support.server import ServerProcess
from tests.test_cli import create_app, run


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from module_server(tmp_path_factory, "cli-tasks")


@pytest.fixture
def env(server: ServerProcess, tmp_path: Path) -> dict[str, str]:
    return cli_env(server, tmp_path)


def test_tasks_add_list_update_run_runs_remove(server: ServerProcess, env: dict[str, str]) -> None:
    create_app(server, "task-app")
    assert run(["tasks", "list", "task-app"], env).stdout.strip() == "task-app has no tasks"
    result = run(
        [
            "tasks",
            "add",
            "task-app",
            "--name",
            "prune",
            "--command",
            "echo pruned",
            "--schedule",
            "0 3 * * *",
        ],
        env,
    )
    assert result.exit_code == 0 and "added task prune" in result.stdout, result.output
    result = run(
        ["tasks", "add", "task-app", "--name", "bad", "--command", "x", "--schedule", "0 3 * *"], env
    )
    assert result.exit_code == 2 and "schedule" in result.stderr, result.output
    rows = json.loads(run(["tasks", "list", "task-app", "--json"], env).stdout)
    assert [(r["name"], r["schedule"], r["enabled"]) for r in rows] == [("prune", "0 3 * * *", True)]
    assert "prune" in run(["tasks", "list", "task-app"], env).stdout

    result = run(["tasks", "update", "task-app", "prune", "--schedule", "*/5 * * * *", "--disable"], env)
    assert result.exit_code == 0, result.output
    row = json.loads(run(["tasks", "list", "task-app", "--json"], env).stdout)[0]
    assert row["schedule"] == "*/5 * * * *" and not row["enabled"] and row["next_run_at"] is None

    result = run(["tasks", "run", "task-app", "prune"], env)  # never deployed: the run fails and says why
    assert result.exit_code == 1 and "the app has no running container" in result.stderr, result.output
    runs = json.loads(run(["tasks", "runs", "task-app", "prune", "--json"], env).stdout)
    assert [(r["trigger"], r["status"]) for r in runs] == [("manual", "failed")]
    assert "failed" in run(["tasks", "runs", "task-app", "prune"], env).stdout

    assert run(["tasks", "remove", "task-app", "prune"], env).exit_code == 0
    result = run(["tasks", "runs", "task-app", "prune"], env)
    assert result.exit_code != 0 and "no task 'prune'" in result.stderr


def test_schedules_deploy_list_cancel(server: ServerProcess, env: dict[str, str]) -> None:
    create_app(server, "sched-app")
    at = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = run(["schedules", "deploy", "sched-app", "--at", at], env)
    assert result.exit_code == 0 and "scheduled deployment" in result.stdout, result.output
    result = run(["schedules", "deploy", "sched-app", "--cron", "0 2 * * *", "--no-cache"], env)
    assert result.exit_code == 0, result.output
    assert run(["schedules", "deploy", "sched-app"], env).exit_code != 0  # neither --at nor --cron
    rows = json.loads(run(["schedules", "deployments", "sched-app", "--json"], env).stdout)
    assert sorted((r["kind"], r["no_cache"]) for r in rows) == [("cron", True), ("once", False)]
    once = next(r for r in rows if r["kind"] == "once")
    assert once["next_run_at"].startswith(at[:-1])
    jobs = json.loads(run(["schedules", "list", "--json"], env).stdout)
    assert f"scheduled-deploy:{once['id']}" in [j["name"] for j in jobs]
    assert run(["schedules", "cancel", "sched-app", once["id"]], env).exit_code == 0
    rows = json.loads(run(["schedules", "deployments", "sched-app", "--json"], env).stdout)
    assert [r["kind"] for r in rows] == ["cron"]
