"""``rivetr env import APP FILE`` (the bulk .env import, with --dry-run, --secret, --scope and --json) and the
search options of ``rivetr logs`` (--since/--until/--grep/--output refusals) against a real ``rivetr serve``.
The logs of a real running container, searched and written to a file: tests/test_ops_e2e.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from rivetr_core.cli.main import cli
from tests.support.cli import cli_env, module_server
from tests.support.server import ServerProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from module_server(tmp_path_factory, "cli-logs-env")


@pytest.fixture
def env(server: ServerProcess, tmp_path: Path) -> dict[str, str]:
    return cli_env(server, tmp_path)


def run(args: list[str], env: dict[str, str], input: str | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, args, env=env, input=input, catch_exceptions=False)


def create_app(server: ServerProcess, name: str) -> dict:  # type: ignore[type-arg]
    with server.client() as client:
        response = client.post(
            "/api/apps", json={"name": name, "git_url": "git://127.0.0.1:9/x.git", "port": 8000}
        )
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]


def variables(server: ServerProcess, app_id: str) -> dict[str, dict]:  # type: ignore[type-arg]
    with server.client() as client:
        items = client.get(f"/api/apps/{app_id}/env-vars", params={"reveal": "true"}).json()["items"]
    return {v["key"]: v for v in items}


def test_env_import_dry_run_then_apply(server: ServerProcess, env: dict[str, str], tmp_path: Path) -> None:
    app = create_app(server, "import-web")
    assert run(["env", "set", "import-web", "KEEP=1"], env).exit_code == 0
    dotenv = tmp_path / "prod.env"
    dotenv.write_text("# prod\nexport KEEP=1\nDATABASE_URL=\"postgres://db/app\"\nGREETING='hi there'\n")

    result = run(["env", "import", "import-web", str(dotenv), "--dry-run"], env)
    assert result.exit_code == 0, result.output
    assert "would add (2): DATABASE_URL, GREETING" in result.stdout
    assert "unchanged (1): KEEP" in result.stdout and "nothing written" in result.stdout
    assert set(variables(server, app["id"])) == {"KEEP"}

    result = run(["env", "import", "import-web", str(dotenv), "--secret", "--scope", "both"], env)
    assert result.exit_code == 0, result.output
    # --secret marks KEEP secret too: a flag change, so it is rewritten.
    assert "added (2): DATABASE_URL, GREETING" in result.stdout and "changed (1): KEEP" in result.stdout
    assert "rivetr deploy import-web" in result.stdout
    rows = variables(server, app["id"])
    assert rows["DATABASE_URL"]["value"] == "postgres://db/app" and rows["GREETING"]["value"] == "hi there"
    assert all(r["is_secret"] and r["scope"] == "both" for r in rows.values())

    # stdin and --json; the same plain values again change nothing.
    result = run(["env", "import", "import-web", "-", "--json"], env, input="EXTRA=1\n")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"dry_run": False, "added": ["EXTRA"], "changed": [], "unchanged": []}
    result = run(["env", "import", "import-web", "-"], env, input="EXTRA=1\n")
    assert "unchanged (1): EXTRA" in result.stdout and "nothing to change" in result.stdout


def test_env_import_names_the_line_at_fault(
    server: ServerProcess, env: dict[str, str], tmp_path: Path
) -> None:
    app = create_app(server, "import-bad")
    dotenv = tmp_path / "bad.env"
    dotenv.write_text("GOOD=1\n\nno equals sign here\n")
    result = run(["env", "import", "import-bad", str(dotenv)], env)
    assert result.exit_code == 2
    assert "Line 3: expected KEY=VALUE" in result.stderr and "422" in result.stderr
    assert variables(server, app["id"]) == {}  # all or nothing


def test_logs_search_options_are_checked(server: ServerProcess, env: dict[str, str], tmp_path: Path) -> None:
    create_app(server, "logs-idle")
    result = run(["logs", "logs-idle", "-f", "--since", "10m"], env)
    assert result.exit_code == 2 and "leave out -f" in result.output
    result = run(["logs", "logs-idle", "--since", "10m", "--output", str(tmp_path / "x.log")], env)
    assert result.exit_code == 2 and "no running container" in result.stderr
    assert not (tmp_path / "x.log").exists()
