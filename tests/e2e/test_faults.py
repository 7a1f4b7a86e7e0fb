"""Fault injection on the real system: ``kill -9`` of the control plane in the middle of deployments, restarts
of the container engines under running apps, and a full disk under the data dir.

What each proves is what an operator relies on after a bad night: no deployment is left stuck, no row is lost,
the app keeps (or goes back to) serving the version the database says is running, the database passes
SQLite's integrity check, and the server recovers by itself once the fault is gone.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import TERMINAL, Rivetr
from tests.support import at_rest

ENGINES = [
    pytest.param("docker", marks=pytest.mark.docker),
    pytest.param("podman", marks=pytest.mark.podman),
]
#: Kill points are drawn from this window after the deploy request: a warm redeploy takes about a second,
#: so they land in clone, build, start, health check, switch, drain, and after it.
KILL_WINDOW = (0.0, 1.6)
#: Deployments killed in a row; bench/faults.py runs many more (the long variant).
ROUNDS = int(os.environ.get("RIVETR_FAULT_ROUNDS", "10"))


def _deployments(rivetr: Rivetr, app_id: str) -> list[dict[str, Any]]:
    response = rivetr.api.get(f"/api/apps/{app_id}/deployments", params={"limit": 100})
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


def _integrity(data_dir: Path) -> str:
    return at_rest.integrity(data_dir)  # SQLite's integrity_check, or amcheck on PostgreSQL


def _serves_running_version(rivetr: Rivetr, app_id: str, host: str, contents: dict[str, str]) -> None:
    """The app is ``running`` and the proxy serves the content of the commit its current deployment built."""
    app = rivetr.api.get(f"/api/apps/{app_id}").json()
    assert app["status"] == "running", app
    current = rivetr.deployment(app["current_deployment_id"])
    assert current["status"] == "running", current
    rivetr.wait_content(host, contents[current["commit_sha"]], timeout=30)


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
def test_kill_9_at_random_points_of_ten_deployments(e2e, git_server, tmp_path, engine):
    rng = random.Random(int(os.environ.get("RIVETR_FAULT_SEED", "1414")))  # a failure names its kill points
    data_dir = tmp_path / "killed"
    rivetr = e2e(engine, data_dir=data_dir)
    repo = git_server.create_repo("killed")
    host = "killed.e2e.test"
    contents = {repo.head(): "hello from v1\n"}
    app = rivetr.create_app(repo, "killed")
    rivetr.deploy_and_wait(app["id"])
    triggered = 1
    kills: list[str] = []
    for round_no in range(ROUNDS):
        content = f"round {round_no}\n"
        repo.write("www/index.html", content)
        contents[repo.commit(f"round {round_no}")] = content
        dep = rivetr.deploy(app["id"])
        triggered += 1
        delay = rng.uniform(*KILL_WINDOW)
        time.sleep(delay)
        status_at_kill = rivetr.deployment(dep["id"])["status"]
        rivetr.server.proc.send_signal(signal.SIGKILL)
        rivetr.server.proc.wait(10)
        kills.append(f"{delay:.2f}s/{status_at_kill}")
        # The proxy outlives the control plane: the app answers while nothing manages it.
        status, _body = rivetr.fetch(host)
        assert status == 200, f"round {round_no}: the proxy stopped serving after kill -9 ({kills})"

        rivetr = e2e(engine, data_dir=data_dir, proxy_port=rivetr.proxy_port)
        deps = _deployments(rivetr, app["id"])
        assert len(deps) == triggered, f"round {round_no}: deployment rows lost ({kills})"
        stuck = [(d["id"], d["status"]) for d in deps if d["status"] not in TERMINAL]
        assert not stuck, f"round {round_no}: deployments stuck after restart: {stuck} ({kills})"
        try:
            _serves_running_version(rivetr, app["id"], host, contents)
        except AssertionError as exc:
            raise AssertionError(f"round {round_no} (kills: {kills}): {exc}\n{deps}") from None

    assert _integrity(data_dir) == "ok"
    # Not wedged: a clean deployment after the last restart goes through and serves.
    repo.write("www/index.html", "after the storm\n")
    contents[repo.commit("final")] = "after the storm\n"
    rivetr.deploy_and_wait(app["id"])
    rivetr.wait_content(host, "after the storm\n")
    # Exactly one container runs for the app: interrupted deployments left no orphans behind for long.
    deadline = time.monotonic() + 30
    while len(rivetr.containers(running_only=True)) != 1 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert len(rivetr.containers(running_only=True)) == 1, kills


def _live_pids(name: str) -> list[int]:
    """Pids of live processes called ``name`` (a zombie, exited but not reaped, does not count)."""
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            status = (proc / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("Name", "").strip() == name and not fields.get("State", "").strip().startswith("Z"):
            pids.append(int(proc.name))
    return pids


def _restart_dockerd() -> None:
    """Stop dockerd (SIGTERM, as an upgrade or a crash-restart by an init system would) and start it again
    through the project's own script."""
    for pid in _live_pids("dockerd"):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while _live_pids("dockerd") and time.monotonic() < deadline:
        time.sleep(0.2)
    _ensure("docker")


def _restart_podman_service() -> None:
    """Stop the Podman API service (containers keep running under conmon) and start it again."""
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if len(cmd) > 3 and cmd[0].endswith(b"podman") and cmd[1:3] == [b"system", b"service"]:
            os.kill(int(proc.name), signal.SIGTERM)
    time.sleep(1)
    _ensure("podman")


def _ensure(engine: str) -> None:
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [str(root / "scripts" / "engines.sh"), "ensure", engine], capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, f"engines.sh ensure {engine} failed:\n{result.stderr}"


@pytest.mark.slow
@pytest.mark.engine_restart  # run alone (tests/support/workers.py)
@pytest.mark.parametrize("engine", ENGINES)
def test_apps_come_back_after_the_engine_restarts(e2e, git_server, engine):
    rivetr = e2e(engine)
    repo = git_server.create_repo("survivor")
    app = rivetr.create_app(repo, "survivor")
    rivetr.deploy_and_wait(app["id"])
    rivetr.wait_content("survivor.e2e.test", "hello from v1\n")

    (_restart_dockerd if engine == "docker" else _restart_podman_service)()

    # Nobody touches the app: the crash watcher brings it back (dockerd stopped its container; podman's
    # kept running) and the proxy routes to it again.
    rivetr.wait_content("survivor.e2e.test", "hello from v1\n", timeout=90)
    app_now = rivetr.api.get(f"/api/apps/{app['id']}").json()
    assert app_now["status"] == "running", app_now
    health = rivetr.api.get("/health").json()
    assert health["status"] == "ok", health
    # The engine is usable for new work too.
    repo.write("www/index.html", "v2 after restart\n")
    repo.commit("v2")
    rivetr.deploy_and_wait(app["id"])
    rivetr.wait_content("survivor.e2e.test", "v2 after restart\n")


@pytest.fixture
def small_tmpfs(tmp_path: Path):
    """A 48 MiB tmpfs for the data dir, unmounted at teardown (root only: CI and this machine run as root)."""
    if os.geteuid() != 0:
        pytest.fail("the disk-full test mounts a tmpfs and must run as root")
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(path: Path) -> Path:
    """Fill the file system of ``path`` to the last block; returns the filler file."""
    filler = path / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1024 * 1024, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    assert shutil.disk_usage(path).free < 64 * 1024
    return filler


@pytest.mark.docker
def test_disk_full_data_dir_gives_clear_errors_and_recovers(e2e, git_server, small_tmpfs):
    data_dir = small_tmpfs / "data"
    # The database whose writes fail is the SQLite file in the full data dir, under RIVETR_TEST_DATABASE=postgres
    # too (a PostgreSQL server keeps its data on a disk of its own).
    rivetr = e2e("docker", data_dir=data_dir, RIVETR_DATABASE__URL="")
    repo = git_server.create_repo("diskfull")
    app = rivetr.create_app(repo, "diskfull")
    rivetr.deploy_and_wait(app["id"])
    filler = _fill(small_tmpfs)

    # Writes fail with a clear error in the error shape; reads keep working.
    failures: list[tuple[int, Any]] = []
    succeeded: set[str] = set()
    for i in range(30):  # enough rows to overflow SQLite's free pages and the WAL's slack
        response = rivetr.api.post(
            f"/api/apps/{app['id']}/env-vars",
            json={"key": f"K{i}", "value": "x" * 2000, "is_secret": False},
        )
        if response.status_code == 201:
            succeeded.add(f"K{i}")
        else:
            failures.append((response.status_code, response.json()))
    assert failures, "no write failed on a full disk: the test did not fill it"
    for status, body in failures:
        assert status == 507, (status, body)
        assert body["error"]["code"] == "insufficient_storage", body
        assert "space" in body["error"]["message"], body
    response = rivetr.api.get(f"/api/apps/{app['id']}")
    assert response.status_code == 200, response.text
    # A deployment on a full disk is refused (no room for its row) or fails cleanly (no room for the clone)
    # instead of hanging or crashing.
    response = rivetr.api.post(f"/api/apps/{app['id']}/deploy")
    if response.status_code == 202:
        dep = rivetr.wait(response.json()["id"])
        assert dep["status"] == "failed", dep
    else:
        assert response.status_code == 507, response.text
    assert rivetr.fetch("diskfull.e2e.test")[0] == 200  # the running version keeps serving
    assert rivetr.server.proc.poll() is None, "the server died on a full disk"

    filler.unlink()
    assert _integrity(data_dir) == "ok"
    stored = {v["key"] for v in rivetr.api.get(f"/api/apps/{app['id']}/env-vars").json()["items"]}
    assert stored == succeeded  # what failed is not there (not even half-written); what succeeded is
    # Space is back: writes and deployments work again without a restart.
    response = rivetr.api.post(
        f"/api/apps/{app['id']}/env-vars", json={"key": "AFTER", "value": "ok", "is_secret": False}
    )
    assert response.status_code == 201, response.text
    dep = rivetr.deploy_and_wait(app["id"])
    assert dep["status"] == "running"
