"""App stop, start and restart on real engines (Docker and Podman) behind the real proxy, one app per engine: stop
leaves the container stopped (kept) and the domain answering 503; a restart of Rivetr leaves it so (the crash
watcher and start-up recovery leave a stopped app alone); start runs the same container again and the domain
serves; restart gives the same container (same image) a new start time. The API rules themselves (409s,
permissions, events): tests/test_app_lifecycle.py."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

ENGINES = [pytest.param("docker", marks=pytest.mark.docker), pytest.param("podman", marks=pytest.mark.podman)]


def _post(rivetr: Any, path: str) -> dict[str, Any]:
    response = rivetr.api.post(path, timeout=120)  # start and restart wait for the health check
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize("engine", ENGINES)
def test_stop_survives_a_rivetr_restart_then_start_and_restart(
    e2e: Any, git_server: Any, engine: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    rivetr = e2e(engine, data_dir=data_dir)
    repo = git_server.create_repo(f"life-{engine}", message="v1")
    repo.write("www/index.html", "alive\n")
    repo.commit("content")
    name = f"life-{engine}"
    host = f"{name}.e2e.test"
    app = rivetr.create_app(repo, name)
    dep = rivetr.deploy_and_wait(app["id"])
    rivetr.wait_content(host, "alive\n")
    container = dep["container_id"]

    def state(instance: Any, field: str) -> str:
        return str(instance.cli("inspect", "-f", "{{" + field + "}}", container).strip())

    image = state(rivetr, ".Image")

    stopped = _post(rivetr, f"/api/apps/{app['id']}/stop")
    assert stopped["status"] == "stopped"
    assert state(rivetr, ".State.Running") == "false"
    assert container in rivetr.containers() and container not in rivetr.containers(running_only=True)
    status, body = rivetr.fetch(host)
    assert status == 503, (status, body)

    # A restart of Rivetr (same data, same proxy) keeps it stopped: nothing starts the container again.
    rivetr.server.stop(timeout=15)
    again = e2e(engine, data_dir=data_dir, proxy_port=rivetr.proxy_port)
    time.sleep(2)  # four rounds of the crash watcher (every 0.5 s here) and start-up recovery
    assert again.api.get(f"/api/apps/{app['id']}").json()["status"] == "stopped"
    assert state(again, ".State.Running") == "false" and container in again.containers()
    assert again.fetch(host)[0] == 503

    started = _post(again, f"/api/apps/{app['id']}/start")
    assert started["status"] == "running" and started["current_deployment_id"] == dep["id"]
    assert state(again, ".State.Running") == "true"
    again.wait_content(host, "alive\n")
    before = state(again, ".State.StartedAt")

    restarted = _post(again, f"/api/apps/{app['id']}/restart")
    assert restarted["status"] == "running"
    assert state(again, ".State.StartedAt") != before  # a new start of the same container
    assert state(again, ".Image") == image and again.containers(running_only=True) == [container]
    again.wait_content(host, "alive\n")
