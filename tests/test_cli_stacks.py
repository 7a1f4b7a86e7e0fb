"""``rivetr stacks ...`` and ``rivetr projects network`` against a real ``rivetr serve`` on dockerd: a busybox stack
is created from a file, deployed with ``--follow``, shown, its service logs read, redeployed, rolled back, failed
on purpose (exit 1 with the reason) and removed; ``validate`` prints every problem of the refused fixture files
(tests/fixtures/compose/bad) as ``FILE:LINE:COLUMN: field: message``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import cli_env
from tests.support.server import ServerProcess, start_server
from tests.test_cli import run

pytestmark = pytest.mark.docker

BUSYBOX = "localhost/rivetr-test/busybox:latest"
FIXTURES = Path(__file__).parent / "fixtures" / "compose"
#: FILE:LINE:COLUMN: as a compiler prints it, so an editor jumps to the line.
LOCATED = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<column>\d+): (?P<rest>.+)$")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = start_server(
        tmp_path_factory.mktemp("cli-stacks") / "data", {"RIVETR_RUNTIME__RUNTIME_TYPE": "docker"}
    )
    yield proc
    with proc.client(timeout=120) as client:  # whatever a failed test left running
        for row in client.get("/api/stacks").json()["items"]:
            client.delete(f"/api/stacks/{row['id']}", params={"volumes": "true"})
    proc.stop()


@pytest.fixture
def env(server: ServerProcess, tmp_path: Path) -> dict[str, str]:
    return cli_env(server, tmp_path)


def stack_file(tmp_path: Path, version: str, *, web_health: str | None = None) -> str:
    """A web front (its page says ``version``) that starts after a worker; ``GREETING`` comes from the stack's
    variables. ``web_health`` replaces the web health check (``false``: it never becomes healthy)."""
    health = web_health or f"wget -q -O- http://127.0.0.1:8080/ | grep -q {version}"
    path = tmp_path / f"compose-{version}.yaml"
    path.write_text(
        f"""
services:
  web:
    image: {BUSYBOX}
    init: true  # busybox httpd as PID 1 ignores SIGTERM: each stop would wait 10 s for SIGKILL
    command:
      - sh
      - -c
      - echo "web says ${{GREETING}}"; mkdir -p /www && echo {version} > /www/index.html && exec httpd -f -p 8080 -h /www
    healthcheck:
      test: ["CMD-SHELL", "{health}"]
      interval: 1s
      timeout: 2s
      retries: 3
    depends_on: [worker]
  worker:
    image: {BUSYBOX}
    init: true
    command: ["sh", "-c", "echo worker up; while true; do sleep 1; done"]
"""
    )
    return str(path)


def test_create_deploy_show_logs_redeploy_roll_back_fail_and_remove_a_stack(
    env: dict[str, str], tmp_path: Path
) -> None:
    name = f"cli{uuid.uuid4().hex[:6]}"
    domain = f"{name}.cli.test"
    created = run(
        [
            "stacks",
            "create",
            name,
            "--file",
            stack_file(tmp_path, "v1"),
            "--env",
            "GREETING=hello",
            "--domain",
            f"{domain}=web:8080",
            "--deploy",
            "--follow",
        ],
        env,
    )
    assert created.exit_code == 0, created.output
    assert f"deploying stack {name}" in created.stdout and "is running" in created.stdout, created.output

    shown = run(["stacks", "show", name], env)
    assert shown.exit_code == 0, shown.output
    rows = {
        line.split()[0]: line for line in shown.stdout.splitlines() if line.startswith(("web ", "worker "))
    }
    assert set(rows) == {"web", "worker"}, shown.stdout
    assert "running" in rows["web"] and "1/1" in rows["web"] and f"{name}-web" in rows["web"], rows
    assert domain in rows["web"] and domain not in rows["worker"], rows
    assert "GREETING=********" in shown.stdout and "hello" not in shown.stdout
    revealed = json.loads(run(["stacks", "show", name, "--reveal", "--json"], env).stdout)
    assert revealed["env"] == {"GREETING": "hello"} and revealed["status"] == "running"
    first = revealed["current_deployment_id"]

    logs = run(["stacks", "logs", name, "web", "--tail", "20"], env)
    assert logs.exit_code == 0 and "web says hello" in logs.output, logs.output
    worker_logs = json.loads(run(["stacks", "logs", name, "worker", "--json"], env).stdout.splitlines()[0])
    assert worker_logs["line"] == "worker up" and worker_logs["container"].startswith(
        f"rivetr-stk-{name}-worker-"
    )
    unknown = run(["stacks", "logs", name, "db"], env)
    assert unknown.exit_code == 2 and "web, worker" in unknown.stderr, unknown.output

    listing = run(["stacks", "list"], env).stdout
    assert re.search(rf"^{name}\s+running\s+web, worker\s+inline", listing, re.M), listing
    network = run(["projects", "network", "default"], env)
    assert network.exit_code == 0 and "rivetr-net-default" in network.stdout, network.output
    assert re.search(rf"stack_service\s+{name}/web\s+{name}-web", network.stdout), network.stdout

    updated = run(["stacks", "update", name, "--file", stack_file(tmp_path, "v2")], env)
    assert updated.exit_code == 0 and "next deploy" in updated.stdout, updated.output
    second = run(["stacks", "deploy", name, "--follow", "--json"], env)
    assert second.exit_code == 0, second.output
    events = [json.loads(line) for line in second.stdout.splitlines()]
    result = events[-1]["deployment"]
    assert events[-1]["type"] == "result" and result["status"] == "running"
    assert (
        result["services"]["web"]["action"] == "replaced" and result["services"]["worker"]["action"] == "kept"
    )

    rolled = run(["stacks", "rollback", name, "--follow"], env)
    assert rolled.exit_code == 0 and f"to {first}" in rolled.stdout, rolled.output
    newest = json.loads(run(["stacks", "deployments", name, "--json"], env).stdout)[0]
    assert newest["rollback_of"] == first and newest["status"] == "running", newest
    after = json.loads(run(["stacks", "show", name, "--json"], env).stdout)
    assert after["current_deployment_id"] == newest["id"]

    broken = stack_file(tmp_path, "v3", web_health="false")
    assert run(["stacks", "update", name, "--file", broken], env).exit_code == 0
    failed = run(["stacks", "deploy", name, "--follow"], env)
    assert failed.exit_code == 1, failed.output
    assert "==> failed" in failed.stdout and "web" in failed.stderr and "failed:" in failed.stderr, (
        failed.output
    )

    history = run(["stacks", "deployments", name], env)
    assert history.exit_code == 0, history.output
    statuses = [line.split()[1] for line in history.stdout.splitlines()[1:]]
    assert statuses[0] == "failed" and len(statuses) == 4, history.stdout
    current = [line for line in history.stdout.splitlines() if " * " in line]
    assert len(current) == 1 and "running" in current[0], history.stdout  # the rollback still serves

    removed = run(["stacks", "rm", name, "--volumes", "--yes"], env)
    assert removed.exit_code == 0 and f"deleted stack {name}" in removed.stdout, removed.output
    assert name not in run(["stacks", "list"], env).stdout
    assert f"{name}-web" not in run(["projects", "network", "default"], env).stdout


def test_validate_prints_the_plan_of_a_good_file(env: dict[str, str]) -> None:
    path = str(FIXTURES / "web-worker-db" / "compose.yaml")
    result = run(["stacks", "validate", path, "--env", "DB_PASSWORD=x"], env)
    assert result.exit_code == 0, result.output
    assert re.search(r"^services:\s+db, redis, web, worker$", result.stdout, re.M), result.stdout
    assert re.search(r"^start order:\s+db, redis -> web, worker$", result.stdout, re.M), result.stdout
    assert re.search(r"^variables:\s+DB_PASSWORD$", result.stdout, re.M), result.stdout
    assert result.stdout.rstrip().endswith(f"{path}: OK")

    missing = run(["stacks", "validate", path], env)  # ${DB_PASSWORD:?...} without the variable
    assert missing.exit_code == 1, missing.output
    first = LOCATED.match(missing.stderr.splitlines()[0])
    assert first and first["file"] == path and "DB_PASSWORD" in first["rest"], missing.stderr


@pytest.mark.parametrize("bad", sorted((FIXTURES / "bad").glob("*.yaml")), ids=lambda p: p.stem)
def test_validate_prints_each_problem_of_a_bad_file_with_line_and_column(
    env: dict[str, str], bad: Path
) -> None:
    result = run(["stacks", "validate", str(bad)], env)
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    located = [m for m in map(LOCATED.match, lines[:-1]) if m]
    assert located and len(located) == len(lines) - 1, result.stderr  # every problem points at its line
    assert all(m["file"] == str(bad) for m in located)
    assert lines[-1] == f"{bad}: {len(located)} problem{'s' if len(located) > 1 else ''}"


def test_validate_names_every_unsupported_key_at_its_line(env: dict[str, str]) -> None:
    bad = FIXTURES / "bad" / "unsupported-key.yaml"
    result = run(["stacks", "validate", str(bad)], env)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[:3] == [
        f"{bad}:4:5: services.web.container_name: Not supported by Rivetr (see docs/compose.md)",
        f"{bad}:5:5: services.web.privileged: Not supported by Rivetr (see docs/compose.md)",
        f"{bad}:6:5: services.web.network_mode: Not supported by Rivetr (see docs/compose.md)",
    ]
    as_json = run(["stacks", "validate", str(bad), "--json"], env)
    assert as_json.exit_code == 1 and json.loads(as_json.stdout)["error"]["code"] == "invalid_compose"


def test_bad_input_is_a_clear_error(env: dict[str, str], tmp_path: Path) -> None:
    good = stack_file(tmp_path, "v1")
    cases = [
        (["stacks", "show", "nope"], "unknown stack 'nope'"),
        (["stacks", "create", "cli-bad"], "--file PATH"),
        (["stacks", "create", "cli-bad", "--file", good, "--repo", "https://example.com/x.git"], "not both"),
        (["stacks", "create", "cli-bad", "--file", good, "--domain", "a.test=web"], "DOMAIN=SERVICE:PORT"),
        (["stacks", "create", "cli-bad", "--file", good, "--follow"], "--deploy"),
        (["stacks", "create", "cli-bad", "--file", good, "--git-token-stdin"], "go with --repo"),
        (["stacks", "create", "cli-bad", "--file", good, "--env", "NOEQUALS"], "KEY=VALUE"),
        (["stacks", "create", "cli-bad", "--file", str(tmp_path / "missing.yaml")], "cannot read"),
        (["stacks", "create", "cli-bad", "--file", str(FIXTURES / "bad" / "cycle.yaml")], "cycle"),
        (["stacks", "validate", str(tmp_path / "missing.yaml")], "cannot read"),
        (["projects", "network", "nope"], "unknown project 'nope'"),
    ]
    for args, message in cases:
        result = run(args, env)
        assert result.exit_code == 2 and message in result.stderr, (args, result.output)
    assert "cli-bad" not in run(["stacks", "list"], env).stdout  # nothing refused was stored


def test_a_repository_stack_that_cannot_be_cloned_fails_its_deploy_with_exit_code_1(
    env: dict[str, str],
) -> None:
    """A real process (its exit status is what CI sees): the clone of a repository nobody serves fails."""
    name = f"cli{uuid.uuid4().hex[:6]}"
    repo = ["--repo", "git://127.0.0.1:9/shop.git", "--branch", "dev", "--path", "deploy/compose.yaml"]
    created = run(["stacks", "create", name, *repo, "--profile", "debug"], env)
    assert created.exit_code == 0 and f"rivetr stacks deploy {name}" in created.stdout, created.output
    shown = run(["stacks", "show", name], env).stdout
    assert "git git://127.0.0.1:9/shop.git (dev, deploy/compose.yaml)" in shown and "debug" in shown, shown
    assert "no services running yet" in shown

    proc = subprocess.run(
        [sys.executable, "-m", "rivetr_core.cli.main", "stacks", "deploy", name, "--follow"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "==> failed" in proc.stdout and "failed:" in proc.stderr, (proc.stdout, proc.stderr)

    cleared = run(["stacks", "update", name, "--no-profiles", "--json"], env)
    assert cleared.exit_code == 0 and json.loads(cleared.stdout)["profiles"] == [], cleared.output
    # Pull-request previews, on and off.
    assert re.search(r"^\s*previews:?\s+off\s*$", shown, re.M), shown
    on = run(["stacks", "update", name, "--previews", "--json"], env)
    assert on.exit_code == 0 and json.loads(on.stdout)["previews"] is True, on.output
    assert "each pull request gets a preview stack" in run(["stacks", "show", name], env).stdout
    off = run(["stacks", "update", name, "--no-previews", "--json"], env)
    assert off.exit_code == 0 and json.loads(off.stdout)["previews"] is False, off.output
    assert run(["stacks", "update", name], env).exit_code == 2  # nothing to change

    # A private repository's token and the stack's webhook secret come from stdin (token first), never argv,
    # and are shown only as set; --no-* removes them.
    creds = run(
        [
            "stacks",
            "update",
            name,
            "--repo",
            "https://git.example.com/acme/shop.git",
            "--git-token-stdin",
            "--git-token-user",
            "oauth2",
            "--webhook-secret-stdin",
            "--json",
        ],
        env,
        input="tok-cli-123456\nhook-secret-123\n",
    )
    assert creds.exit_code == 0, creds.output
    body = json.loads(creds.stdout)
    assert body["has_git_token"] and body["has_webhook_secret"] and body["git_token_user"] == "oauth2", body
    assert "tok-cli-123456" not in creds.stdout and "hook-secret-123" not in creds.stdout
    shown = run(["stacks", "show", name, "--reveal"], env).stdout
    assert "HTTPS token (user oauth2)" in shown and "set (pushes signed with it deploy)" in shown, shown
    assert "tok-cli-123456" not in shown and "hook-secret-123" not in shown
    cleared = run(["stacks", "update", name, "--no-git-token", "--no-webhook-secret", "--json"], env)
    body = json.loads(cleared.stdout)
    assert not body["has_git_token"] and not body["has_webhook_secret"], cleared.output
    bad = run(["stacks", "update", name, "--ssh-key-id", "nope"], env)
    assert bad.exit_code == 2 and "unknown SSH key 'nope'" in bad.stderr, bad.output
    ssh = run(["stacks", "update", name, "--repo", "git@git.example.com:acme/shop.git"], env)
    assert ssh.exit_code == 2 and "ssh_key_id" in ssh.stderr, ssh.output  # an SSH URL needs a deploy key
    assert run(["stacks", "rm", name, "--yes"], env).exit_code == 0
