"""The foundation's CLI commands: --version, config check, plugins list (as a user runs them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from rivetr_core import __version__


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rivetr_core.cli.main", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0 and __version__ in result.stdout


def test_config_check_ok_and_bad(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text("[server]\napi_port = 9001\n")
    ok = run("config", "check", "--config", str(good))
    assert ok.returncode == 0 and "API on 0.0.0.0:9001" in ok.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('[server]\napi_port = "x"\nnope = 1\n[proxy]\nworkers = 0\n')
    result = run("config", "check", "--config", str(bad))
    assert result.returncode == 1
    for expected in ("server.api_port", "server.nope: unknown key", "proxy.workers"):
        assert expected in result.stderr
    env_bad = run("config", "check", env={"RIVETR_RUNTIME__MAX_CONCURRENT_DEPLOYMENTS": "zero"})
    assert env_bad.returncode == 1 and "runtime.max_concurrent_deployments" in env_bad.stderr


def test_plugins_list_table_and_json() -> None:
    table = run("plugins", "list")
    assert table.returncode == 0
    row = next(line for line in table.stdout.splitlines() if line.startswith("runtime-docker "))
    # the names users type to select what it provides, its distribution and state
    assert row.split()[1:4] == [__version__, "rivetr-runtime-docker", "ok"] and "runtime docker" in row
    as_json = run("plugins", "list", "--json")
    assert as_json.returncode == 0
    data = json.loads(as_json.stdout)
    names = {p["name"] for p in data}
    assert {"runtime-docker", "runtime-podman", "git-github", "git-gitlab", "proxy-builtin"} <= names
    assert all(set(p) >= {"name", "version", "hooks"} for p in data)
    disabled = json.loads(
        run("plugins", "list", "--json", env={"RIVETR_DISABLED_PLUGINS": "git-gitlab"}).stdout
    )
    assert {p["name"]: p["status"] for p in disabled}["git-gitlab"] == "disabled"
