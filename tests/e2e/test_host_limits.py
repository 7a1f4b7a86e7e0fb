"""Per-app host limits reach the container of a real deployment on both engines, and clearing them brings back
the server defaults (1 GiB memory, 4096 processes, logs 10m x 3, OOM score 500)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

MiB = 1024**2


def decimal_size(text: str) -> int:
    """``"2.097MB"`` → 2097000 (podman prints sizes in decimal units, rounded to 4 digits)."""
    match = re.fullmatch(r"([\d.]+)\s*([kMGT]?)B", text)
    assert match, text
    return round(float(match.group(1)) * 1000 ** " kMGT".index(match.group(2) or " "))


def host_config(rivetr: Any, container_id: str) -> dict[str, Any]:
    """The engine's own view of the container (``docker|podman inspect``): memory, pids, OOM score, logs."""
    data = json.loads(rivetr.cli("inspect", container_id))[0]["HostConfig"]
    log = data["LogConfig"]
    if rivetr.engine == "docker":
        logs = (log["Type"], log["Config"])
    else:  # podman's own inspect shows the k8s-file size cap it gave conmon, human-readable ("2.097MB")
        logs = (log["Type"], decimal_size(log["Size"]))
    return {
        "memory": data["Memory"],
        "pids": data["PidsLimit"],
        "oom": data["OomScoreAdj"],
        "logs": logs,
    }


@pytest.mark.parametrize(
    "engine",
    [pytest.param("docker", marks=pytest.mark.docker), pytest.param("podman", marks=pytest.mark.podman)],
)
def test_app_limits_reach_the_container_and_defaults_come_back(e2e, git_server, engine: str) -> None:
    rivetr = e2e(engine)
    repo = git_server.create_repo(f"limits-{engine}")
    app = rivetr.create_app(
        repo, f"limits-{engine}", memory_limit="64m", pids_limit=128, log_max_size="1m", log_max_files=2
    )
    dep = rivetr.deploy_and_wait(app["id"])
    assert dep["status"] == "running", dep
    own = host_config(rivetr, dep["container_id"])
    assert (own["memory"], own["pids"], own["oom"]) == (64 * MiB, 128, 500), own
    expected_logs = {
        "docker": ("json-file", {"max-size": str(MiB), "max-file": "2"}),
        "podman": ("k8s-file", pytest.approx(2 * MiB, rel=1e-3)),  # one file of 1m x 2
    }
    assert own["logs"] == expected_logs[engine], own
    cleared = dict.fromkeys(("memory_limit", "pids_limit", "log_max_size", "log_max_files"))
    response = rivetr.api.put(f"/api/apps/{app['id']}", json=cleared)
    assert response.status_code == 200, response.text
    dep = rivetr.deploy_and_wait(app["id"])
    defaults = host_config(rivetr, dep["container_id"])
    assert (defaults["memory"], defaults["pids"], defaults["oom"]) == (1024 * MiB, 4096, 500), defaults
    expected_logs = {
        "docker": ("json-file", {"max-size": str(10 * MiB), "max-file": "3"}),
        "podman": ("k8s-file", pytest.approx(30 * MiB, rel=1e-3)),  # one file of 10m x 3
    }
    assert defaults["logs"] == expected_logs[engine], defaults
