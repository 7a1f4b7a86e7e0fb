"""``rivetr export`` and ``rivetr apply`` against a real ``rivetr serve`` (issue 24): the plan prints as a diff,
--dry-run changes nothing, a second apply says nothing changes, --prune deletes what the file does not name, and
a bad file names its line and column."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import cli_env, module_server
from tests.support.server import ServerProcess
from tests.test_cli import run

FILE = """[project]
name = "cli-iac"
description = "configuration as code"

[[apps]]
name = "iac-web"
git_url = "git://127.0.0.1:9/web.git"
port = 8000
secrets = ["SESSION_KEY"]
health_check = { kind = "http", path = "/healthz" }

[apps.env]
LOG_LEVEL = "info"

[[apps.volumes]]
name = "uploads"
mount_path = "/app/uploads"

[[apps.tasks]]
name = "cleanup"
command = "echo clean"
schedule = "0 3 * * *"
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from module_server(tmp_path_factory, "cli-iac")


@pytest.fixture
def env(server: ServerProcess, tmp_path: Path) -> dict[str, str]:
    return cli_env(server, tmp_path)


def test_apply_dry_run_apply_again_export_and_prune(
    server: ServerProcess, env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "project.toml"
    path.write_text(FILE)

    result = run(["apply", "-f", str(path), "--dry-run"], env)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "+ project cli-iac" in lines and "+ app iac-web" in lines
    assert "    port = 8000" in lines
    assert "+ app iac-web: volume uploads" in lines
    assert any(line.startswith("! secret SESSION_KEY of app iac-web is not set") for line in lines)
    assert lines[-1].startswith("plan: 5 to create;")
    with server.client() as client:
        assert client.get("/api/projects").json()["items"] == []  # the dry run changed nothing

    result = run(["apply", "-f", str(path)], env)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].startswith("applied: 5 created;")
    result = run(["apply", "-f", str(path)], env)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "! secret SESSION_KEY of app iac-web is not set on the server: rivetr env set iac-web SESSION_KEY --secret "
        "(a deployment fails without it)",
        "nothing to change: the server matches the file",
    ]

    exported = run(["export", "cli-iac"], env)
    assert exported.exit_code == 0, exported.output
    assert 'name = "iac-web"' in exported.stdout and 'LOG_LEVEL = "info"' in exported.stdout
    assert "port = 8000" in exported.stdout and 'path = "/healthz"' in exported.stdout

    path.write_text(FILE.replace("port = 8000", "port = 9000").split("[[apps.volumes]]")[0])
    result = run(["apply", "-f", str(path), "--dry-run"], env)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "~ app iac-web" in lines and "    port: 8000 -> 9000" in lines
    assert "? app iac-web: volume uploads (not in the file: left alone; --prune deletes it)" in lines
    result = run(["apply", "-f", str(path), "--prune"], env, input="n\n")  # asks before deleting
    assert result.exit_code == 1 and "Delete 2 resource(s) the file does not name?" in result.output, (
        result.output
    )
    with server.client() as client:
        app = next(a for a in client.get("/api/apps").json()["items"] if a["name"] == "iac-web")
        assert [v["name"] for v in client.get(f"/api/apps/{app['id']}/volumes").json()["items"]] == [
            "uploads"
        ]
        assert app["port"] == 8000  # nothing applied after the refusal
    result = run(["apply", "-f", str(path), "--prune", "--yes"], env)
    assert result.exit_code == 0, result.output
    assert "- app iac-web: volume uploads" in result.stdout.splitlines()
    exported = run(["export", "cli-iac", "--format", "json"], env)
    assert exported.exit_code == 0, exported.output
    assert '"port": 9000' in exported.stdout and "uploads" not in exported.stdout


def test_a_bad_file_names_its_line_and_column(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[project]\nname = "cli-bad"\n\n[[apps]]\nname = "bad-web"\nport = "eighty"\n')
    result = run(["apply", "-f", str(path)], env)
    assert result.exit_code == 2, result.output
    assert f"error: {path}:6:1: apps[0].port: Input should be a valid integer" in result.stderr
    path.write_text('[project]\nname = "cli-bad\n')
    result = run(["apply", "-f", str(path)], env)
    assert result.exit_code == 2, result.output
    assert f"error: {path}:2:" in result.stderr
