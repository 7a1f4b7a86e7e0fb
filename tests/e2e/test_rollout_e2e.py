"""Rolling updates of replicas on the real Docker engine behind the real proxy (issue 23; rivetr_core.engine.rollout):
a 3-replica app redeployed with max_surge 1 / max_unavailable 0 under concurrent requests answers every one of
them and ends with 3 new replicas; a new version whose health check fails stops the rollout at once and the 3 old
replicas keep serving. The step rules on the fake runtime: tests/test_rollout.py; the planning: test_rollout_plan.py.

A git app with a one-layer busybox build (as tests/e2e/test_app_replicas_e2e.py): no registry needed."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.e2e.test_app_replicas_e2e import HOST_CGI, Load

pytestmark = [pytest.mark.slow, pytest.mark.docker]

CLIENTS = 4  # concurrent request loops through the proxy during the rollout


def _running_replicas(rivetr: Any, app_id: str) -> list[dict[str, Any]]:
    items = rivetr.api.get(f"/api/apps/{app_id}/replicas").json()["items"]
    assert all(r["state"] == "running" for r in items), items
    return items  # type: ignore[no-any-return]


def _log(rivetr: Any, dep_id: str) -> str:
    return "\n".join(x["line"] for x in rivetr.api.get(f"/api/deployments/{dep_id}/logs").json())


def test_a_rolling_update_under_load_fails_no_request(e2e: Any, git_server: Any) -> None:
    rivetr = e2e("docker")
    name = "roll"
    host = f"{name}.e2e.test"
    repo = git_server.create_repo(name, message="v1")
    repo.write("www/cgi-bin/host", HOST_CGI, 0o755)
    repo.commit("hostname CGI")
    app = rivetr.create_app(repo, name, replicas=3, max_surge=1, max_unavailable=0)
    first = rivetr.deploy_and_wait(app["id"])
    old = {r["container_id"] for r in _running_replicas(rivetr, app["id"])}
    assert len(old) == 3 and set(rivetr.containers(running_only=True)) == old

    repo.write("www/index.html", "v2")
    repo.commit("v2")
    loads = [Load(rivetr, host) for _ in range(CLIENTS)]
    for load in loads:
        load.__enter__()
    try:
        time.sleep(0.3)
        second = rivetr.deploy_and_wait(app["id"])
        time.sleep(0.3)
    finally:
        for load in loads:
            load.__exit__(None, None, None)
    failed = [f for load in loads for f in load.failed]
    served = sum(load.ok for load in loads)
    assert failed == [], failed[:5]
    assert served > 50, served
    new = _running_replicas(rivetr, app["id"])
    assert len(new) == 3 and not old & {r["container_id"] for r in new}
    assert set(rivetr.containers(running_only=True)) == {r["container_id"] for r in new}
    assert rivetr.api.get(f"/api/apps/{app['id']}").json()["current_deployment_id"] == second["id"]
    assert rivetr.fetch(host, "/") == (200, "v2")
    log = _log(rivetr, second["id"])
    assert "max_surge 1, max_unavailable 0: start 1, stop 1, start 1, stop 1, start 1, stop 1" in log, log
    assert "rollout: stopped old replica(s) 1; 1 old and 2 new serving" in log, log
    assert first["id"] != second["id"]


def test_a_new_version_failing_its_health_check_leaves_the_old_replicas_serving(
    e2e: Any, git_server: Any
) -> None:
    rivetr = e2e("docker")
    name = "rollbad"
    host = f"{name}.e2e.test"
    repo = git_server.create_repo(name, message="v1")
    repo.write("www/healthz", "ok")
    repo.write("www/cgi-bin/host", HOST_CGI, 0o755)  # what Load requests
    repo.commit("health file")
    app = rivetr.create_app(
        repo, name, replicas=3, healthcheck_path="/healthz", healthcheck_retries=3, healthcheck_timeout=2
    )
    good = rivetr.deploy_and_wait(app["id"])
    old = {r["container_id"] for r in _running_replicas(rivetr, app["id"])}

    repo.remove("www/healthz")  # v2 answers 404 to its health check
    repo.write("www/index.html", "v2")
    repo.commit("v2 without the health file")
    with Load(rivetr, host) as load:
        bad = rivetr.wait(rivetr.deploy(app["id"])["id"])
        time.sleep(0.3)
    assert bad["status"] == "failed", bad
    assert load.failed == [] and load.ok > 5, (load.failed[:5], load.ok)
    assert {r["container_id"] for r in _running_replicas(rivetr, app["id"])} == old
    assert set(rivetr.containers(running_only=True)) == old  # the new container is gone
    shown = rivetr.api.get(f"/api/apps/{app['id']}").json()
    assert shown["current_deployment_id"] == good["id"] and shown["status"] == "running"
    assert rivetr.fetch(host, "/") == (200, "hello from v1\n")
    assert "rollout stopped: routes back to the 3 old replica(s) still running" in _log(rivetr, bad["id"])
