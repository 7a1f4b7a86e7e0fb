"""The main flow, on Docker and on Podman: git daemon → app → deploy → proxy → push → zero-downtime
redeploy under a request loop → rollback without a rebuild → delete with full cleanup."""

from __future__ import annotations

import threading
import time

import pytest

from tests.support.proxy import http_get

pytestmark = pytest.mark.slow


class RequestLoop:
    """Requests through the proxy in a loop on a thread; every non-200 or unexpected body is a failure."""

    def __init__(self, port: int, host: str, allowed: set[str]) -> None:
        self.port, self.host, self.allowed = port, host, allowed
        self.ok = 0
        self.failures: list[str] = []
        self.seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                status, _, body = http_get(self.port, self.host, "/", timeout=10)
                text = body.decode(errors="replace")
                if status == 200 and text in self.allowed:
                    self.ok += 1
                    self.seen.add(text)
                else:
                    self.failures.append(f"{status} {text[:80]!r}")
            except OSError as exc:
                self.failures.append(repr(exc))

    def __enter__(self) -> RequestLoop:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(15)


@pytest.mark.parametrize(
    "engine",
    [pytest.param("docker", marks=pytest.mark.docker), pytest.param("podman", marks=pytest.mark.podman)],
)
def test_deploy_redeploy_rollback_delete(e2e, git_server, engine):
    rivetr = e2e(engine)
    repo = git_server.create_repo(f"flow-{engine}", message="v1")
    repo.write("www/index.html", "version one\n")
    v1_sha = repo.commit("v1 content")
    name = f"flow-{engine}"
    host = f"{name}.e2e.test"
    app = rivetr.create_app(repo, name)

    v1 = rivetr.deploy_and_wait(app["id"])
    assert v1["commit_sha"] == v1_sha
    assert v1["image"] == f"localhost/rivetr/{name}:{v1['id']}"
    rivetr.wait_content(host, "version one\n")
    assert set(v1["steps"]) == {"clone", "build", "start", "health", "switch", "drain"}

    repo.write("www/index.html", "version two\n")
    v2_sha = repo.commit("v2 content")
    with RequestLoop(rivetr.proxy_port, host, {"version one\n", "version two\n"}) as loop:
        time.sleep(0.3)
        v2 = rivetr.deploy_and_wait(app["id"])
        rivetr.wait_content(host, "version two\n")
        time.sleep(0.3)
    assert loop.failures == [], loop.failures[:10]
    assert loop.ok > 20 and loop.seen == {"version one\n", "version two\n"}
    assert v2["commit_sha"] == v2_sha
    assert rivetr.deployment(v1["id"])["status"] == "replaced"
    assert rivetr.containers() == [v2["container_id"]]  # the old container was stopped and removed

    response = rivetr.api.post(f"/api/deployments/{v1['id']}/rollback")
    assert response.status_code == 202, response.text
    with RequestLoop(rivetr.proxy_port, host, {"version one\n", "version two\n"}) as loop:
        rolled = rivetr.wait_drained(rivetr.wait(response.json()["id"]))
        rivetr.wait_content(host, "version one\n")
    assert rolled["status"] == "running", rolled
    assert loop.failures == [], loop.failures[:10]
    assert rolled["image"] == v1["image"] and rolled["commit_sha"] == v1_sha
    assert "build" not in rolled["steps"] and "clone" not in rolled["steps"]  # no rebuild
    logs = [x["line"] for x in rivetr.api.get(f"/api/deployments/{rolled['id']}/logs").json()]
    assert any("no rebuild" in line for line in logs)

    assert rivetr.api.delete(f"/api/apps/{app['id']}").status_code == 204
    assert rivetr.containers() == []
    assert rivetr.images(name) == []
    assert rivetr.api.get("/api/routes").json()["items"] == []
    status, _ = rivetr.fetch(host)
    assert status in (404, 502)
