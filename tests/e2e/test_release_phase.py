"""The release phase on real engines (Docker and Podman), through a real ``rivetr serve``, its proxy and a git
daemon: ``release_command`` runs in a one-off container of the new image (the app's env and volumes) before the
new version serves, on rollbacks too; a non-zero exit or a timeout fails the deploy while the old version keeps
serving, and the one-off container is gone either way; a failing ``post_deploy_command`` is reported and the new
version stays live."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow

ENGINES = [pytest.param("docker", marks=pytest.mark.docker), pytest.param("podman", marks=pytest.mark.podman)]

# CRLF headers: busybox httpd passes CGI headers through verbatim and the proxy refuses bare LF.
MARKER_CGI = """#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
cat /data/marker 2>/dev/null
"""


def lines(rivetr, dep_id: str) -> list[str]:
    return [x["line"] for x in rivetr.api.get(f"/api/deployments/{dep_id}/logs").json()]


def put(rivetr, app_id: str, **fields) -> dict:
    response = rivetr.api.put(f"/api/apps/{app_id}", json=fields)
    assert response.status_code == 200, response.text
    return response.json()


def release_containers(rivetr) -> list[str]:
    return [
        line
        for line in rivetr.cli(
            "ps",
            "-a",
            "-q",
            "--filter",
            "label=rivetr.role=release",
            "--filter",
            f"label=rivetr.instance={rivetr.instance_id()}",
        ).split()
        if line
    ]


@pytest.mark.parametrize("engine", ENGINES)
def test_release_writes_into_the_volume_before_the_new_version_serves(e2e, git_server, engine):
    rivetr = e2e(engine)
    name = f"rel-{engine}"
    host = f"{name}.e2e.test"
    repo = git_server.create_repo(name)
    repo.write("www/cgi-bin/marker", MARKER_CGI, 0o755)
    repo.commit("marker CGI")
    app = rivetr.create_app(
        repo,
        name,
        release_command='echo "schema $SCHEMA by $RIVETR_DEPLOYMENT_ID" >> /data/marker && echo migrated',
        post_deploy_command="echo warming up; echo cache down >&2; exit 4",
    )
    response = rivetr.api.post(f"/api/apps/{app['id']}/volumes", json={"name": "data", "mount_path": "/data"})
    assert response.status_code == 201, response.text
    response = rivetr.api.post(f"/api/apps/{app['id']}/env-vars", json={"key": "SCHEMA", "value": "v7"})
    assert response.status_code == 201, response.text

    first = rivetr.deploy_and_wait(app["id"])
    rivetr.wait_content(host, f"schema v7 by {first['id']}\n", "/cgi-bin/marker")  # written before it served
    log = lines(rivetr, first["id"])
    assert "release | migrated" in log, log
    assert log.index("release | migrated") < next(
        i for i, x in enumerate(log) if x.startswith("started container")
    )
    assert {"release", "post_deploy"} <= set(first["steps"])

    # The post-deploy command failed: reported, never rolled back.
    first = rivetr.deployment(first["id"])
    assert first["status"] == "running"
    assert first["steps"]["post_deploy"]["error"] == "post-deploy command exited 4", first["steps"]
    assert "post-deploy | warming up" in lines(rivetr, first["id"])
    assert rivetr.api.get(f"/api/apps/{app['id']}").json()["current_deployment_id"] == first["id"]
    assert release_containers(rivetr) == [] and rivetr.containers() == [first["container_id"]]

    # A new version, then a rollback: the release phase runs for both (the rollback with the old image).
    put(rivetr, app["id"], post_deploy_command=None)
    repo.write("www/index.html", "v2\n")
    repo.commit("v2")
    second = rivetr.deploy_and_wait(app["id"])
    response = rivetr.api.post(f"/api/deployments/{first['id']}/rollback")
    assert response.status_code == 202, response.text
    back = rivetr.wait_drained(rivetr.wait(response.json()["id"]))
    assert back["status"] == "running" and "release" in back["steps"] and "build" not in back["steps"], back
    expected = "".join(f"schema v7 by {dep['id']}\n" for dep in (first, second, back))
    rivetr.wait_content(host, expected, "/cgi-bin/marker")
    assert release_containers(rivetr) == [] and rivetr.containers() == [back["container_id"]]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_failing_or_hanging_release_keeps_the_old_version(e2e, git_server, engine):
    rivetr = e2e(engine)
    name = f"relfail-{engine}"
    host = f"{name}.e2e.test"
    repo = git_server.create_repo(name)
    repo.write("www/index.html", "version one\n")
    repo.commit("v1")
    app = rivetr.create_app(repo, name)
    v1 = rivetr.deploy_and_wait(app["id"])
    rivetr.wait_content(host, "version one\n")

    repo.write("www/index.html", "version two\n")
    repo.commit("v2")
    put(rivetr, app["id"], release_command="echo applying 0002; echo 'relation users is missing' >&2; exit 3")
    failed = rivetr.wait(rivetr.deploy(app["id"])["id"])
    assert failed["status"] == "failed" and failed["error"] == "release command exited 3", failed
    assert "start" not in failed["steps"] and failed["container_id"] is None
    log = lines(rivetr, failed["id"])
    assert "release | applying 0002" in log and "release | relation users is missing" in log, log
    status, body = rivetr.fetch(host)
    assert (status, body) == (200, "version one\n")
    assert rivetr.containers() == [v1["container_id"]]  # no one-off container left, no new app container

    put(rivetr, app["id"], release_command="echo waiting for a lock; sleep 600", release_timeout=2)
    hung = rivetr.wait(rivetr.deploy(app["id"])["id"])
    assert hung["status"] == "failed" and hung["error"] == "release command timed out after 2 s", hung
    assert 2000 <= hung["steps"]["release"]["duration_ms"] < 30000
    assert "release | waiting for a lock" in lines(rivetr, hung["id"])
    status, body = rivetr.fetch(host)
    assert (status, body) == (200, "version one\n")
    assert rivetr.containers() == [v1["container_id"]] and release_containers(rivetr) == []
    assert rivetr.api.get(f"/api/apps/{app['id']}").json()["current_deployment_id"] == v1["id"]
