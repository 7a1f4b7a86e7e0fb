"""``rivetr volumes list|add|remove|strategy`` and ``rivetr apps delete --keep-volumes`` against a real
``rivetr serve`` process (no engine: the mounts apply at a deployment, which these tests do not run)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import cli_env
from tests.support.server import ServerProcess, start_server
from tests.test_cli import create_app, run


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp("cli-volumes")
    (data / "binds" / "media").mkdir(parents=True)
    proc = start_server(
        data / "data", {"RIVETR_VOLUMES__ALLOWED_BIND_ROOTS": json.dumps([str(data / "binds")])}
    )
    proc.binds = data / "binds"  # type: ignore[attr-defined]
    yield proc
    proc.stop()


@pytest.fixture
def env(server: ServerProcess, tmp_path: Path) -> dict[str, str]:
    return cli_env(server, tmp_path)


def test_volumes_add_list_remove(server: ServerProcess, env: dict[str, str]) -> None:
    create_app(server, "vol-app")
    result = run(["volumes", "list", "vol-app"], env)
    assert result.stdout.strip() == "vol-app has no volumes", result.output
    result = run(["volumes", "add", "vol-app", "data", "/var/lib/data"], env)
    assert result.exit_code == 0 and "added data at /var/lib/data" in result.stdout, result.output
    media = str(server.binds / "media")  # type: ignore[attr-defined]
    result = run(["volumes", "add", "vol-app", "media", "/media", "--bind", media, "--read-only"], env)
    assert result.exit_code == 0, result.output
    rows = json.loads(run(["volumes", "list", "vol-app", "--json"], env).stdout)
    assert [(r["name"], r["kind"], r["read_only"]) for r in rows] == [
        ("media", "bind", True),
        ("data", "volume", False),
    ]
    listing = run(["volumes", "list", "vol-app"], env).stdout
    assert "/var/lib/data" in listing and media in listing and "ro" in listing
    # The server's 422 names the field; exit status 2 like every refused input.
    result = run(["volumes", "add", "vol-app", "etc", "/etc2", "--bind", "/etc"], env)
    assert result.exit_code == 2 and "host_path" in result.stderr, result.output
    result = run(["volumes", "add", "vol-app", "other", "/var/lib/data"], env)
    assert result.exit_code != 0 and "mount_path" in result.stderr, result.output
    assert run(["volumes", "remove", "vol-app", "/media"], env).exit_code == 0
    result = run(["volumes", "remove", "vol-app", "data"], env, input="n\n")
    assert result.exit_code != 0  # asked, refused: the data stays
    assert [r["name"] for r in json.loads(run(["volumes", "list", "vol-app", "--json"], env).stdout)] == [
        "data"
    ]
    result = run(["volumes", "remove", "vol-app", "nope", "--yes"], env)
    assert result.exit_code != 0 and "no volume 'nope'" in result.stderr


def test_volumes_strategy_and_delete_keep_volumes(server: ServerProcess, env: dict[str, str]) -> None:
    create_app(server, "strat-app")
    assert "deploy strategy: rolling" in run(["volumes", "strategy", "strat-app"], env).stdout
    result = run(["volumes", "strategy", "strat-app", "recreate"], env)
    assert result.exit_code == 0 and "deploy strategy: recreate" in result.stdout, result.output
    with server.client() as client:
        assert client.get("/api/apps?include_previews=true").status_code == 200
    result = run(["apps", "delete", "strat-app", "--yes", "--keep-volumes"], env)
    assert result.exit_code == 0, result.output
    with server.client() as client:
        apps = client.get("/api/apps").json()
    names = [a["name"] for a in (apps["items"] if isinstance(apps, dict) else apps)]
    assert "strat-app" not in names
