"""A real ``rivetr serve`` with ``runtime_type = "swarm"``: a git app deploys as a swarm service, serves through
the built-in proxy, and a redeploy under a request loop switches to the new service without a failed request."""

from __future__ import annotations

import subprocess
import threading
import time
from typing import Any

import pytest

from tests.e2e.conftest import Rivetr
from tests.support.proxy import http_get

pytestmark = [pytest.mark.slow, pytest.mark.docker]


def _services(label: str) -> list[str]:
    out = subprocess.run(
        ["docker", "service", "ls", "-q", "--filter", f"label={label}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return out.stdout.split()


def _loop(port: int, host: str, allowed: set[str], stop: threading.Event, out: dict[str, Any]) -> None:
    while not stop.is_set():
        try:
            status, _, body = http_get(port, host, "/", timeout=10)
            text = body.decode(errors="replace")
            if status == 200 and text in allowed:
                out["ok"] += 1
                out["seen"].add(text)
            else:
                out["failures"].append(f"{status} {text[:80]!r}")
        except OSError as exc:
            out["failures"].append(repr(exc))


def test_git_app_deploys_as_a_service_and_redeploys_without_failed_requests(
    swarm_rivetr: Rivetr, git_server: Any
) -> None:
    rivetr = swarm_rivetr
    name = "swarm-flow"
    host = f"{name}.e2e.test"
    repo = git_server.create_repo(name, message="v1")
    repo.write("www/index.html", "version one\n")
    repo.commit("v1 content")
    # Its own project: the default project's network name is shared with every other Rivetr on this engine.
    project = rivetr.api.post("/api/projects", json={"name": "swarm-e2e"})
    assert project.status_code == 201, project.text
    app = rivetr.create_app(repo, name, project_id=project.json()["id"])
    v1 = rivetr.deploy_and_wait(app["id"])
    assert v1["status"] == "running", v1
    rivetr.wait_content(host, "version one\n")
    label = f"rivetr.instance={rivetr.instance_id()}"
    [first] = _services(label)  # the app runs as a swarm service
    assert v1["container_id"].startswith(first)

    repo.write("www/index.html", "version two\n")
    repo.commit("v2 content")
    stop = threading.Event()
    seen: dict[str, Any] = {"ok": 0, "seen": set(), "failures": []}
    allowed = {"version one\n", "version two\n"}
    loop = threading.Thread(target=_loop, args=(rivetr.proxy_port, host, allowed, stop, seen), daemon=True)
    loop.start()
    try:
        time.sleep(0.3)
        v2 = rivetr.deploy_and_wait(app["id"])
        rivetr.wait_content(host, "version two\n")
        time.sleep(0.3)
    finally:
        stop.set()
        loop.join(15)
    assert v2["status"] == "running", v2
    assert seen["failures"] == [], seen["failures"][:10]
    assert seen["ok"] > 20 and seen["seen"] == allowed
    print(f"swarm redeploy under load: {seen['ok']} requests through the proxy, 0 failed")
    rivetr.wait_drained(v2)
    [left] = _services(label)  # the old service was removed (`service ls` shows 12-character ids)
    assert v2["container_id"].startswith(left) and not v1["container_id"].startswith(left)
