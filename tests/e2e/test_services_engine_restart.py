"""A real engine restart: dockerd stops (taking every container down with it) and starts again, and a Postgres
service comes back by itself (its restart policy) with its data, without Rivetr doing anything; Rivetr's API
keeps answering and reconnects to the new daemon. (Podman has no daemon whose restart stops containers: its
"engine went away" case, containers stopped behind Rivetr's back, is in test_services_e2e.py.)"""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_services_e2e import create_service, sql, wait_running

# engine_restart: run alone, after the parallel run (tests/support/workers.py)
pytestmark = [pytest.mark.slow, pytest.mark.docker, pytest.mark.engine_restart]

ROOT = Path(__file__).resolve().parents[2]


def restart_dockerd() -> None:
    """Stop dockerd as a host shutdown would (SIGTERM: it stops its containers, then exits), then start it again
    through the test setup's own entry point."""
    pid = int(Path("/var/run/docker.pid").read_text().strip())
    assert Path(f"/proc/{pid}/comm").read_text().strip() == "dockerd"
    subprocess.run(["kill", "-TERM", str(pid)], check=True)
    deadline = time.monotonic() + 90
    while Path(f"/proc/{pid}").exists():
        assert time.monotonic() < deadline, "dockerd did not stop within 90 s"
        time.sleep(0.2)
    subprocess.run(
        ["bash", str(ROOT / "scripts/engines.sh"), "ensure", "docker"], check=True, capture_output=True
    )


def test_a_dockerd_restart_brings_a_database_back_with_its_data(e2e: Any) -> None:
    rivetr = e2e("docker")
    suffix = uuid.uuid4().hex[:6]
    pg = wait_running(rivetr, create_service(rivetr, {"name": f"pg-er-{suffix}", "type": "postgres"})["id"])
    try:
        sql(rivetr, pg, "CREATE TABLE notes (body text); INSERT INTO notes VALUES ('survives the engine')")
        container = f"rivetr-svc-{pg['name']}"
        restart_dockerd()

        deadline = time.monotonic() + 120
        while rivetr.cli("inspect", "-f", "{{.State.Running}}", container).strip() != "true":
            assert time.monotonic() < deadline, (
                "the service's container did not come back after dockerd restarted"
            )
            time.sleep(0.5)
        deadline = time.monotonic() + 120
        while True:  # postgres replays its WAL after the abrupt stop, then answers again
            try:
                assert sql(rivetr, pg, "SELECT body FROM notes").strip() == "survives the engine"
                break
            except subprocess.CalledProcessError:
                assert time.monotonic() < deadline, "postgres did not answer after dockerd restarted"
                time.sleep(0.5)
        shown = rivetr.api.get(f"/api/services/{pg['id']}").json()
        assert shown["status"] == "running" and shown["host_address"], shown  # Rivetr reconnected
    finally:
        rivetr.api.delete(f"/api/services/{pg['id']}")
