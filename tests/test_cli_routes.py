"""``rivetr routes list|add|remove|show|set`` against a real ``rivetr serve`` (the proxy off: the routes and their
settings are stored and listed all the same): path routes, stripping, redirect rules, the www redirect and basic
auth with passwords from stdin (never argv), hashes never shown."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rivetr_core.cli.main import cli
from tests.support.cli import cli_env, module_server
from tests.support.server import ServerProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from module_server(tmp_path_factory, "cli-routes")


@pytest.fixture
def env(server: ServerProcess, tmp_path: Path) -> dict[str, str]:
    return cli_env(server, tmp_path)


def run(args: list[str], env: dict[str, str], input: str | None = None) -> Any:
    return CliRunner().invoke(cli, args, env=env, input=input, catch_exceptions=False)


def test_path_routes_settings_and_auth(env: dict[str, str]) -> None:
    assert "no routes" in run(["routes", "list"], env).output
    added = run(
        ["routes", "add", "api.cli.test", "127.0.0.1:9001", "--path-prefix", "/v1", "--strip-prefix"], env
    )
    assert added.exit_code == 0 and "routed api.cli.test/v1 to 127.0.0.1:9001" in added.output, added.output
    assert run(["routes", "add", "api.cli.test", "127.0.0.1:9000"], env).exit_code == 0
    listed = run(["routes", "list"], env)
    lines = listed.output.splitlines()
    assert lines[0].split() == ["KEY", "UPSTREAMS", "OWNER", "RULES"]
    assert lines[1].split()[:3] == ["api.cli.test", "127.0.0.1:9000", "manual"]
    assert lines[2].split()[:4] == ["api.cli.test/v1", "127.0.0.1:9001", "manual", "strip"], listed.output

    changed = run(
        [
            "routes", "set", "api.cli.test",
            "--redirect", "/old=/new:308", "--redirect", "/docs=https://docs.cli.test/",
            "--auth-user", "ann", "--auth-user", "bob", "--password-stdin", "--auth-realm", "Staging",
        ],
        env,
        input="ann secret\nbob secret\n",
    )  # fmt: skip
    assert changed.exit_code == 0, changed.output
    assert "/old -> /new (308); /docs -> https://docs.cli.test/ (301)" in changed.output
    assert "realm 'Staging', users ann, bob" in changed.output
    assert "$2b$" not in changed.output and "secret" not in changed.output
    shown = json.loads(run(["routes", "show", "api.cli.test", "--json"], env).output)
    assert shown["basic_auth"] == {"realm": "Staging", "users": ["ann", "bob"]}
    assert "$2" not in json.dumps(shown)

    # Removing one user keeps the other's password (the API is sent the name alone).
    kept = run(["routes", "set", "api.cli.test", "--remove-auth-user", "ann"], env)
    assert kept.exit_code == 0 and "users bob" in kept.output, kept.output
    off = run(["routes", "set", "api.cli.test", "--no-auth", "--no-redirects"], env)
    assert "basic auth:   off" in off.output and "redirects:    -" in off.output, off.output

    bad = run(["routes", "set", "api.cli.test", "--redirect-www", "to-www"], env)
    assert bad.exit_code != 0 and "is set on the www. name" in bad.output, bad.output
    assert run(["routes", "set", "api.cli.test", "--redirect-www", "to-apex"], env).exit_code == 0

    assert run(["routes", "remove", "api.cli.test/v1"], env).exit_code == 0
    assert "api.cli.test/v1" not in run(["routes", "list"], env).output
    gone = run(["routes", "remove", "api.cli.test/v1"], env)
    assert gone.exit_code != 0 and "404" in gone.output


def test_upstream_protocol(env: dict[str, str]) -> None:
    added = run(["routes", "add", "grpc.cli.test", "127.0.0.1:50051", "--upstream-protocol", "h2c"], env)
    assert added.exit_code == 0, added.output
    assert "h2c upstream" in run(["routes", "list"], env).output
    shown = run(["routes", "show", "grpc.cli.test"], env)
    assert "protocol:     h2c" in shown.output, shown.output
    changed = run(["routes", "set", "grpc.cli.test", "--upstream-protocol", "http1"], env)
    assert changed.exit_code == 0 and "protocol:     http1" in changed.output, changed.output
    bad = run(["routes", "set", "grpc.cli.test", "--upstream-protocol", "h3"], env)
    assert bad.exit_code != 0 and "upstream-protocol" in bad.output
    assert run(["routes", "remove", "grpc.cli.test"], env).exit_code == 0
