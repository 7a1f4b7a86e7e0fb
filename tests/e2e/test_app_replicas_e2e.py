"""Replicas of an app on real engines (Docker and Podman) behind the real proxy (issue 23): a deployment with 2
replicas answers from both containers (each replica's CGI prints its hostname), then it scales to 3 and back to
1 under continuous requests with 0 failed ones. The rules themselves (fake runtime): tests/test_app_replicas.py.

A git app with a one-layer busybox build, not an image app: an image app's deploy always pulls, and these tests
have no registry of their own (tests/e2e/test_image_apps.py sets one up with TLS and auth, far too slow here)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

pytestmark = pytest.mark.slow

ENGINES = [pytest.param("docker", marks=pytest.mark.docker), pytest.param("podman", marks=pytest.mark.podman)]
HOST_CGI = "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\nhostname\n"


class Load:
    """Requests through the proxy, one after the other, until stopped; counts the ones that were not a 200."""

    def __init__(self, rivetr: Any, host: str) -> None:
        self.rivetr, self.host = rivetr, host
        self.ok, self.failed = 0, []  # type: ignore[var-annotated]
        self.hostnames: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                status, body = self.rivetr.fetch(self.host, "/cgi-bin/host")
            except OSError as exc:
                self.failed.append(repr(exc))
                continue
            if status == 200:
                self.ok += 1
                self.hostnames.add(body.strip())
            else:
                self.failed.append((status, body[:200]))

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def _scale(rivetr: Any, app_id: str, n: int) -> dict[str, Any]:
    response = rivetr.api.post(f"/api/apps/{app_id}/scale", json={"replicas": n}, timeout=120)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize("engine", ENGINES)
def test_two_replicas_serve_then_scale_under_load(e2e: Any, git_server: Any, engine: str) -> None:
    rivetr = e2e(engine)
    name = f"reps-{engine}"
    host = f"{name}.e2e.test"
    repo = git_server.create_repo(name, message="v1")
    repo.write("www/cgi-bin/host", HOST_CGI, 0o755)
    repo.commit("hostname CGI")
    app = rivetr.create_app(repo, name, replicas=2)
    dep = rivetr.deploy_and_wait(app["id"])
    replicas = rivetr.api.get(f"/api/apps/{app['id']}/replicas").json()["items"]
    assert [r["state"] for r in replicas] == ["running", "running"], replicas
    assert len(rivetr.containers(running_only=True)) == 2

    # Round-robin: a few requests reach both containers, each answering with its own hostname.
    seen = set()
    for _ in range(20):
        status, body = rivetr.fetch(host, "/cgi-bin/host")
        assert status == 200, body
        seen.add(body.strip())
    assert len(seen) == 2, seen

    with Load(rivetr, host) as load:
        time.sleep(0.5)
        assert _scale(rivetr, app["id"], 3)["started"] == [2]
        time.sleep(1)
        assert _scale(rivetr, app["id"], 1)["stopped"] == [1, 2]
        time.sleep(1)
    assert load.failed == [], load.failed[:5]
    assert load.ok > 20 and len(load.hostnames) == 3, (load.ok, load.hostnames)
    assert len(rivetr.containers(running_only=True)) == 1
    assert rivetr.api.get(f"/api/apps/{app['id']}").json()["current_deployment_id"] == dep["id"]
