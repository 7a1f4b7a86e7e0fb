"""``rivetr system cleanup settings [set ...]`` against a real ``rivetr serve`` process: the settings with their
sources, a change stored (and seen by the API), the server's refusal shown with the field, ``--unset`` and
``--reset``; ``rivetr system cleanup`` without a subcommand still runs the cleanup."""

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
    yield from module_server(tmp_path_factory, "cli-cleanup-settings")


@pytest.fixture
def env(server: ServerProcess, tmp_path: Path) -> dict[str, str]:
    return cli_env(server, tmp_path)


def _row(text: str, name: str) -> list[str]:
    return next(line.split() for line in text.splitlines() if line.startswith(name + " "))


def test_show_set_unset_and_reset(env: dict[str, str], server: ServerProcess) -> None:
    shown = run(["system", "cleanup", "settings"], env)
    assert shown.exit_code == 0, shown.output
    assert _row(shown.stdout, "keep_images") == ["keep_images", "3", "config", "-"], shown.stdout
    assert "next run: " in shown.stdout
    # In the dashboard form's order, not the JSON's (sorted by name).
    names = [line.split()[0] for line in shown.stdout.splitlines()[1:8]]
    assert names[:2] == ["keep_images", "interval_minutes"] and names[-1] == "prune_build_cache", shown.stdout

    changed = run(
        ["system", "cleanup", "settings", "set", "--keep-images", "2", "--prune-build-cache", "--json"], env
    )
    assert changed.exit_code == 0, changed.output
    view = json.loads(changed.stdout)
    assert view["settings"]["keep_images"] == 2 and view["settings"]["prune_build_cache"] is True
    with server.client() as client:
        stored = client.get("/api/system/cleanup/settings").json()
    assert (
        stored["sources"]["keep_images"] == "dashboard"
        and stored["sources"]["prune_build_cache"] == "dashboard"
    )

    text = run(["system", "cleanup", "settings"], env).stdout
    # value, source, and the config file's value it overrides
    assert _row(text, "keep_images") == ["keep_images", "2", "dashboard", "3"], text
    assert _row(text, "prune_build_cache") == ["prune_build_cache", "yes", "dashboard", "no"], text

    bad = run(["system", "cleanup", "settings", "set", "--disk-warning-percent", "101"], env)
    assert bad.exit_code != 0 and "disk_warning_percent" in bad.output, bad.output
    nothing = run(["system", "cleanup", "settings", "set"], env)
    assert nothing.exit_code == 2 and "--reset" in nothing.output, nothing.output

    unset = run(["system", "cleanup", "settings", "set", "--unset", "keep_images", "--json"], env)
    view = json.loads(unset.stdout)
    assert view["sources"]["keep_images"] == "config" and view["sources"]["prune_build_cache"] == "dashboard"

    reset = run(
        ["system", "cleanup", "settings", "set", "--reset", "--interval-minutes", "30", "--json"], env
    )
    view = json.loads(reset.stdout)
    assert [k for k, v in view["sources"].items() if v == "dashboard"] == ["interval_minutes"], view
    assert view["settings"]["interval_minutes"] == 30 and view["settings"]["prune_build_cache"] is False
    reset = run(["system", "cleanup", "settings", "set", "--reset", "--json"], env)
    assert set(json.loads(reset.stdout)["sources"].values()) == {"config"}


def test_cleanup_without_a_subcommand_still_runs(env: dict[str, str]) -> None:
    result = run(["system", "cleanup", "--json"], env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["reason"] == "api"
