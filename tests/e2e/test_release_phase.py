"""The release phase on real engines (Docker and Podman), through a real ``rivetr serve``, its proxy and a git
daemon: ``release_command`` runs in a one-off container of the new image (the app's env and volumes) before the
new version serves, on rollbacks too; a non-zero exit or a timeout fails the deploy while the old version keeps
serving, and the one-off container is gone either way; a failing ``post_deploy_command`` is reported and the new
version stays live."""

from __future__ import annotations

import time

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


# ------------------------------------------------------------------------------------- with a linked Postgres
DBCLIENT = "localhost/rivetr-test/dbclient:1"
MIGRATE_PY = '''"""The release command: the migration the new version needs (idempotent, as migrations are)."""
import os

import psycopg2

conn = psycopg2.connect(os.environ["DATABASE_URL"], connect_timeout=10)
with conn, conn.cursor() as cur:
    cur.execute("CREATE TABLE IF NOT EXISTS widgets (name TEXT PRIMARY KEY)")
    cur.execute("INSERT INTO widgets VALUES ('from-migration') ON CONFLICT DO NOTHING")
print("created table widgets", flush=True)
'''
WEB_PY = '''"""The new version: answers with the rows of a table only the migration creates (500 without it)."""
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        try:
            conn = psycopg2.connect(os.environ["DATABASE_URL"], connect_timeout=10)
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT name FROM widgets ORDER BY name")
                    body, status = " ".join(r[0] for r in cur.fetchall()).encode(), 200
            finally:
                conn.close()
        except Exception as exc:
            body, status = str(exc).encode(), 500
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
'''
DB_DOCKERFILE = f"""FROM {DBCLIENT}
COPY migrate.py web.py /srv/
CMD ["python3", "-u", "/srv/web.py"]
"""


@pytest.mark.parametrize("engine", ENGINES)
def test_release_migrates_a_linked_postgres_before_the_new_version_serves(e2e, git_server, engine):
    rivetr = e2e(engine)
    try:
        rivetr.cli("image", "inspect", DBCLIENT)
    except Exception:
        pytest.fail(f"{DBCLIENT} is missing on {engine}: run scripts/engines.sh ensure all")
    response = rivetr.api.post("/api/projects", json={"name": f"relpg-{engine}"})
    assert response.status_code == 201, response.text
    project = response.json()
    response = rivetr.api.post(
        "/api/services",
        json={"name": f"relpg-db-{engine[:2]}", "type": "postgres", "project_id": project["id"]},
    )
    assert response.status_code == 201, response.text
    service = response.json()
    try:
        name = f"relpg-{engine}"
        host = f"{name}.e2e.test"
        files = {
            "Dockerfile": (DB_DOCKERFILE, 0o644),
            "migrate.py": (MIGRATE_PY, 0o644),
            "web.py": (WEB_PY, 0o644),
        }
        repo = git_server.create_repo(name, files)
        app = rivetr.create_app(repo, name, project_id=project["id"], healthcheck_retries=4)
        deadline = time.monotonic() + 180
        while (state := rivetr.api.get(f"/api/services/{service['id']}").json())["status"] != "running":
            assert state["status"] != "failed" and time.monotonic() < deadline, state
            time.sleep(0.25)
        response = rivetr.api.post(f"/api/apps/{app['id']}/links", json={"service_id": service["id"]})
        assert response.status_code == 201, response.text

        # Without its migration the new version cannot serve (the table is missing): the deploy fails.
        bare = rivetr.wait(rivetr.deploy(app["id"])["id"], timeout=180)
        assert bare["status"] == "failed" and "health check" in bare["error"], bare

        put(rivetr, app["id"], release_command="python3 /srv/migrate.py")
        dep = rivetr.deploy_and_wait(app["id"])
        log = lines(rivetr, dep["id"])
        assert "release | created table widgets" in log, log
        rivetr.wait_content(host, "from-migration")  # the table the release phase created, through the proxy
        assert release_containers(rivetr) == []
    finally:
        rivetr.api.delete(f"/api/services/{service['id']}?force=true")
