"""An app's selected health check decides a real deployment on both engines (real ``rivetr serve``, proxy and
git daemon): a ``command`` check run inside the new container lets it go live, a failing one keeps the previous
version serving, and the ``tcp`` check needs no HTTP at all."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "engine",
    [pytest.param("docker", marks=pytest.mark.docker), pytest.param("podman", marks=pytest.mark.podman)],
)
def test_selected_health_check_decides_the_deployment(e2e, git_server, engine: str) -> None:
    rivetr = e2e(engine)
    name = f"hc-{engine}"
    repo = git_server.create_repo(name)
    app = rivetr.create_app(
        repo,
        name,
        builder="dockerfile",
        health_check={"kind": "command", "command": ["sh", "-c", "test -f /www/index.html && echo ready"]},
    )
    good = rivetr.deploy_and_wait(app["id"])
    lines = [x["line"] for x in rivetr.api.get(f"/api/deployments/{good['id']}/logs").json()]
    assert any(line.startswith("health check passed: command check → exit 0: ready") for line in lines), lines
    rivetr.wait_content(f"{name}.e2e.test", "hello from v1\n")

    response = rivetr.api.put(
        f"/api/apps/{app['id']}",
        json={"health_check": {"kind": "command", "command": ["sh", "-c", "exit 7"], "retries": 2}},
    )
    assert response.status_code == 200, response.text
    bad = rivetr.wait(rivetr.deploy(app["id"])["id"])
    assert bad["status"] == "failed"
    assert bad["error"] == "health check failed after 2 attempts: exit 7"
    assert rivetr.deployment(good["id"])["status"] == "running"
    rivetr.wait_content(f"{name}.e2e.test", "hello from v1\n")  # the previous version still serves

    response = rivetr.api.put(f"/api/apps/{app['id']}", json={"health_check": {"kind": "tcp"}})
    assert response.status_code == 200, response.text
    tcp = rivetr.deploy_and_wait(app["id"])
    lines = [x["line"] for x in rivetr.api.get(f"/api/deployments/{tcp['id']}/logs").json()]
    assert any(line.startswith("health check passed: tcp check → port 8000 accepts") for line in lines), lines
