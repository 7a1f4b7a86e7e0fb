"""``rivetr services ...`` and ``rivetr apps link|links|unlink`` against a real ``rivetr serve`` on dockerd, with
the stand-in ``redis:7`` pulled from the local registry mirror (scripts/engines.sh)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rivetr_core.services.managed_responses import MASK
from tests.support.cli import cli_env
from tests.support.server import ServerProcess, start_server
from tests.test_cli import create_app, run

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = start_server(
        tmp_path_factory.mktemp("cli-services") / "data",
        {"RIVETR_RUNTIME__RUNTIME_TYPE": "docker", "RIVETR_METRICS__SAMPLE_INTERVAL": "2"},
    )
    yield proc
    with proc.client(timeout=60) as client:  # whatever a failed test left running
        for row in client.get("/api/services").json()["items"]:
            client.delete(f"/api/services/{row['id']}", params={"force": "true"})
    proc.stop()


@pytest.fixture
def env(server: ServerProcess, tmp_path: Path) -> dict[str, str]:
    return cli_env(server, tmp_path)


def test_create_show_link_rotate_and_remove_a_redis_service(
    server: ServerProcess, env: dict[str, str]
) -> None:
    result = run(["services", "create", "cli-cache", "--type", "redis", "--timeout", "120"], env)
    assert result.exit_code == 0, result.output
    assert "cli-cache (redis 7): running" in result.stdout

    listing = run(["services", "list"], env).stdout
    assert "cli-cache" in listing and "running" in listing
    shown = run(["services", "show", "cli-cache"], env).stdout
    assert "cli-cache:6379" in shown and MASK in shown
    assert "ssh -N -L 6379:" in shown  # the container's address on the project network, for a tunnel
    revealed = json.loads(run(["services", "show", "cli-cache", "--reveal", "--json"], env).stdout)
    password = revealed["credentials"]["password"]
    assert len(password) == 32 and password not in shown
    assert revealed["connection_url"] == f"redis://:{password}@cli-cache:6379/0"

    deadline = time.monotonic() + 30  # the sampler (every 2 s here) records the container like an app's
    while (usage := json.loads(run(["services", "show", "cli-cache", "--json"], env).stdout))[
        "resources"
    ] is None:
        assert time.monotonic() < deadline, "no resource sample of the service"
        time.sleep(0.5)
    assert usage["resources"]["memory_used"] > 0 and usage["resources"]["containers"] == 1
    assert "MiB (1 container)" in run(["services", "show", "cli-cache"], env).stdout

    logs = run(["services", "logs", "cli-cache", "-n", "50"], env)
    assert logs.exit_code == 0 and "Ready to accept connections" in logs.output, logs.output

    create_app(server, "cli-svc-web")
    linked = run(["apps", "link", "cli-svc-web", "cli-cache"], env)
    assert linked.exit_code == 0 and "REDIS_URL" in linked.stdout, linked.output
    links = run(["apps", "links", "cli-svc-web"], env).stdout
    assert "REDIS" in links and "cli-cache" in links and password not in links
    again = run(["apps", "link", "cli-svc-web", "cli-cache"], env)
    assert again.exit_code == 2 and "REDIS" in again.stderr, again.output  # the prefix is taken: 409
    assert run(["apps", "link", "cli-svc-web", "cli-cache", "--prefix", "CACHE2"], env).exit_code == 0

    # --no-redeploy: the linked app keeps the old password and is named with the command that fixes it.
    rotated = run(["services", "rotate-credentials", "cli-cache", "--yes", "--no-redeploy"], env)
    assert rotated.exit_code == 0 and "rivetr deploy cli-svc-web" in rotated.stdout, rotated.output
    after = json.loads(run(["services", "show", "cli-cache", "--reveal", "--json"], env).stdout)
    assert after["credentials"]["password"] != password and after["status"] == "running"
    # By default the linked apps that run are redeployed (tests/e2e/test_links_e2e.py); this one never was.
    rotated = run(["services", "rotate-credentials", "cli-cache", "--yes"], env)
    assert rotated.exit_code == 0, rotated.output
    assert "not redeployed cli-svc-web: no deployed container" in rotated.stdout, rotated.output
    assert "rivetr deploy" not in rotated.stdout
    # --events: what Rivetr did to it (the pull at creation, the rotations), beside the container's output.
    events = run(["services", "logs", "cli-cache", "--events", "-n", "200"], env)
    assert events.exit_code == 0 and "pulling docker.io/library/redis:7" in events.output, events.output
    assert events.output.count("password rotated") == 2 and "Ready to accept" not in events.output

    refused = run(["services", "rm", "cli-cache", "--yes"], env)
    assert refused.exit_code == 2 and "cli-svc-web" in refused.stderr, refused.output  # linked: 409
    assert run(["apps", "unlink", "cli-svc-web", "CACHE2"], env).exit_code == 0
    assert run(["apps", "unlink", "cli-svc-web", "cli-cache"], env).exit_code == 0
    assert "has no links" in run(["apps", "links", "cli-svc-web"], env).stdout

    stopped = run(["services", "stop", "cli-cache"], env)
    assert stopped.exit_code == 0 and "stopped" in stopped.stdout, stopped.output
    started = run(["services", "start", "cli-cache", "--timeout", "120"], env)
    assert started.exit_code == 0 and "running" in started.stdout, started.output

    removed = run(["services", "rm", "cli-cache", "--yes"], env)
    assert removed.exit_code == 0, removed.output
    assert "no services yet" in run(["services", "list"], env).stdout


def test_bad_input_names_what_is_available(server: ServerProcess, env: dict[str, str]) -> None:
    result = run(["services", "create", "cli-bad", "--type", "oracle", "--no-wait"], env)
    assert result.exit_code == 2 and "postgres" in result.stderr and "redis" in result.stderr, result.output
    result = run(["services", "create", "cli-bad", "--type", "redis", "--version", "2", "--no-wait"], env)
    assert result.exit_code == 2 and "7" in result.stderr, result.output
    result = run(["services", "show", "nope"], env)
    assert result.exit_code == 2 and "unknown service 'nope'" in result.stderr, result.output
    result = run(["services", "create", "cli-bad", "--type", "redis", "--env", "NOEQUALS"], env)
    assert result.exit_code == 2 and "KEY=VALUE" in result.stderr, result.output


def test_back_up_restore_and_schedule_a_service(
    server: ServerProcess, env: dict[str, str], tmp_path: Path
) -> None:
    created = run(["services", "create", "cli-kv", "--type", "redis", "--timeout", "120"], env)
    assert created.exit_code == 0, created.output
    target = tmp_path / "archives"
    target.mkdir()
    added = run(["backup", "destinations", "add", "svc-disk", "--kind", "local", "--path", str(target)], env)
    assert added.exit_code == 0, added.output

    assert "has no backups yet" in run(["services", "backups", "cli-kv"], env).stdout
    backed = run(["services", "backup", "cli-kv", "--to", "svc-disk"], env)
    assert backed.exit_code == 0 and "succeeded" in backed.stdout, backed.output
    rows = json.loads(run(["services", "backups", "cli-kv", "--json"], env).stdout)
    assert len(rows) == 1 and rows[0]["status"] == "succeeded" and rows[0]["service_name"] == "cli-kv"
    assert [p.suffix for p in target.rglob("*.zst")] == [".zst"]  # the archive is on the destination

    restored = run(["services", "restore", rows[0]["id"], "--yes"], env)
    assert restored.exit_code == 0 and "succeeded" in restored.stdout, restored.output
    refused = run(["services", "restore", rows[0]["id"], "--into", "nope", "--yes"], env)
    assert refused.exit_code == 2 and "unknown service 'nope'" in refused.stderr, refused.output

    cron = ["--cron", "0 3 * * *", "--keep-last", "3"]
    scheduled = run(["backup", "schedules", "add", "--service", "cli-kv", "--to", "svc-disk", *cron], env)
    assert scheduled.exit_code == 0 and "the data of service cli-kv" in scheduled.stdout, scheduled.output
    assert "service cli-kv" in run(["backup", "schedules", "list"], env).stdout
    both = run(
        ["backup", "schedules", "add", "--service", "cli-kv", "--state", "--to", "svc-disk", *cron], env
    )
    assert both.exit_code == 2 and "give one of" in both.output, both.output
    assert run(["services", "rm", "cli-kv", "--yes"], env).exit_code == 0
