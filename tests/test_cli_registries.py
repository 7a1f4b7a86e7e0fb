"""``rivetr registries``, ``rivetr apps create --image`` and ``rivetr deploy --image`` against a real ``rivetr
serve`` process and a real private registry (docker-registry with htpasswd auth and a test CA,
tests/support/auth_registry.py). No container engine: the deploys here are refused before the engine."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from rivetr_core.cli.main import cli
from tests.support.auth_registry import AuthRegistry, running_auth_registry
from tests.support.cli import cli_env, module_server
from tests.support.server import ServerProcess


@pytest.fixture(scope="module")
def auth_registry() -> Iterator[AuthRegistry]:
    yield from running_auth_registry()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from module_server(tmp_path_factory, "cli-registries")


@pytest.fixture
def env(server: ServerProcess, tmp_path: Path) -> dict[str, str]:
    return cli_env(server, tmp_path)


def run(args: list[str], env: dict[str, str], input: str | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, args, env=env, input=input, catch_exceptions=False)


def test_registries_add_list_rm(auth_registry: AuthRegistry, env: dict[str, str]) -> None:
    base = [
        "registries",
        "add",
        "private",
        "--server",
        auth_registry.server,
        "--username",
        auth_registry.username,
    ]
    wrong = run([*base, "--password-stdin"], env, input="wrong-password\n")
    assert wrong.exit_code != 0 and "refused the login" in wrong.output, wrong.output
    assert "wrong-password" not in wrong.output

    added = run([*base, "--password-stdin"], env, input=auth_registry.password + "\n")
    assert added.exit_code == 0, added.output
    assert f"added registry private ({auth_registry.server}" in added.output
    assert auth_registry.password not in added.output

    listed = run(["registries", "list", "--json"], env)
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [(r["name"], r["server"], r["password"]) for r in rows] == [
        ("private", auth_registry.server, "********")
    ]
    table = run(["registries", "list"], env)
    assert "private" in table.output and auth_registry.password not in table.output

    gone = run(["registries", "rm", auth_registry.server], env)
    assert gone.exit_code == 0 and "removed registry private" in gone.output, gone.output
    assert json.loads(run(["registries", "list", "--json"], env).stdout) == []
    missing = run(["registries", "rm", "nope"], env)
    assert missing.exit_code != 0 and "no registry matches" in missing.output


def test_apps_create_with_an_image_and_deploy_image_rules(server: ServerProcess, env: dict[str, str]) -> None:
    both = run(["apps", "create", "both", "--git", "https://example.test/a.git", "--image", "busybox"], env)
    assert both.exit_code != 0 and "either --git URL or --image REF" in both.output
    neither = run(["apps", "create", "neither"], env)
    assert neither.exit_code != 0 and "either --git URL or --image REF" in neither.output

    made = run(
        ["apps", "create", "cli-image", "--image", "registry.example.test/team/api:1.4", "--json"], env
    )
    assert made.exit_code == 0, made.output
    created = json.loads(made.stdout)
    assert (created["source_kind"], created["image"], created["git_url"]) == (
        "image",
        "registry.example.test/team/api:1.4",
        "",
    )
    shown = run(["apps", "show", "cli-image"], env)
    assert "registry.example.test/team/api:1.4" in shown.output and "dockerfile" not in shown.output

    bad = run(["apps", "create", "cli-bad-image", "--image", "Not An Image"], env)
    assert bad.exit_code != 0 and "image" in bad.output

    git_app = run(["apps", "create", "cli-git", "--git", "https://example.test/a.git"], env)
    assert git_app.exit_code == 0, git_app.output
    refused = run(["deploy", "cli-git", "--image", "registry.example.test/team/api:1.5"], env)
    assert refused.exit_code != 0 and "only image apps take one" in refused.output, refused.output
