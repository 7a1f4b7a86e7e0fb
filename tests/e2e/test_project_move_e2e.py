"""A project moves to a second server with its data (issue 24), on real engines: server A has a project with a
PostgreSQL service holding data, the link test app (tests/support/dbapp) linked to it, a scheduled task and a
backup schedule of the service to an S3 destination (moto's real S3 server, encrypted). The service is backed up,
the project exported, and A's app and service are deleted with their data (the old server is gone). Server B
(a second ``rivetr serve`` with its own data dir) gets the same destination (same bucket and passphrase: its own
row), applies the exported file, imports A's archive into its new service (``POST
/api/services/{id}/backups/import``, checked against A's sha256), restores it, deploys the app, and the app answers
with the row written on A. B's export is A's file, and applying it again changes nothing."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.e2e.test_links_e2e import DBCLIENT, dbapp_files, get, has_image, wait_running

pytestmark = pytest.mark.slow

ENGINES = [pytest.param("docker", marks=pytest.mark.docker), pytest.param("podman", marks=pytest.mark.podman)]
PASSPHRASE = "a passphrase both servers know"


def wait_status(rivetr: Any, path: str, timeout: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = dict(rivetr.api.get(path).json())
        if body["status"] in ("succeeded", "failed"):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.2)


def ok(response: Any, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return dict(response.json())


@pytest.mark.parametrize("engine", ENGINES)
def test_project_moves_to_a_second_server_with_its_database(e2e, git_server, engine, s3_server):
    one = e2e(engine)
    if not has_image(one, DBCLIENT):
        pytest.fail(f"{DBCLIENT} is missing on {engine}: run scripts/engines.sh ensure all")
    suffix = engine[:3]
    name, db = f"mv-app-{suffix}", f"mv-pg-{suffix}"
    host = f"{name}.e2e.test"
    destination = {
        "name": "offsite",
        **s3_server.destination(s3_server.create_bucket(), prefix=f"moves/{suffix}"),
        "passphrase": PASSPHRASE,
    }

    # Server A: the project as a user builds it.
    project = ok(one.api.post("/api/projects", json={"name": f"move-{suffix}"}))
    service = ok(
        one.api.post("/api/services", json={"name": db, "type": "postgres", "project_id": project["id"]})
    )
    app = one.create_app(git_server.create_repo(name, dbapp_files()), name, project_id=project["id"])
    ok(one.api.post(f"/api/apps/{app['id']}/links", json={"service_id": service["id"]}))
    task = {"name": "tidy", "command": "true", "schedule": "0 4 * * *"}
    ok(one.api.post(f"/api/apps/{app['id']}/tasks", json=task))
    dest_one = ok(one.api.post("/api/backup-destinations", json=destination))
    schedule = {
        "service_id": service["id"],
        "destination_id": dest_one["id"],
        "cron": "30 1 * * *",
        "keep_daily": 7,
    }
    ok(one.api.post("/api/backup-schedules", json=schedule))
    wait_running(one, service["id"])
    one.deploy_and_wait(app["id"])
    assert get(one, host, "/write?v=written-on-a") == "written-on-a"

    run = ok(
        one.api.post(f"/api/services/{service['id']}/backups", json={"destination_id": dest_one["id"]}), 202
    )
    backup = wait_status(one, f"/api/backups/{run['id']}")
    assert backup["status"] == "succeeded" and backup["encrypted"] is True, backup
    exported = one.api.get(f"/api/projects/{project['id']}/export")
    assert exported.status_code == 200, exported.text
    text = exported.text
    assert f'name = "{db}"' in text and 'destination = "offsite"' in text and 'name = "tidy"' in text, text
    assert PASSPHRASE not in text and s3_server.secret_key not in text

    # The old server is gone: its app and its database, data included.
    assert one.api.delete(f"/api/apps/{app['id']}").status_code in (200, 202, 204)
    response = one.api.delete(f"/api/services/{service['id']}", params={"force": "true"})
    assert response.status_code in (200, 202, 204), response.text

    # Server B: the destination (its own row, the same bucket and passphrase), then the file.
    two = e2e(engine)
    dest_two = ok(two.api.post("/api/backup-destinations", json=destination))
    plan = ok(two.api.post("/api/projects/apply", json={"toml": text}), 200)
    assert plan["changed"] and plan["missing_secrets"] == [], plan
    created = {c["resource"] for c in plan["changes"] if c["action"] == "create"}
    assert {f"service {db}", f"app {name}", f"app {name}: link {db}", f"app {name}: task tidy"} <= created, (
        plan
    )
    assert f"service {db}: backup to offsite at 30 1 * * *" in created, plan
    copy_service = next(s for s in two.api.get("/api/services").json()["items"] if s["name"] == db)
    copy_app = next(a for a in two.api.get("/api/apps").json()["items"] if a["name"] == name)
    wait_running(two, copy_service["id"])

    # A's archive, imported into B's service (checked against A's sha256), then restored.
    body = {"destination_id": dest_two["id"], "key": backup["key"], "sha256": backup["sha256"]}
    imported = ok(two.api.post(f"/api/services/{copy_service['id']}/backups/import", json=body))
    assert imported["trigger"] == "import" and imported["size_bytes"] == backup["size_bytes"], imported
    response = two.api.post(f"/api/backups/{imported['id']}/restore-service", json={})
    restore = wait_status(two, f"/api/restores/{ok(response, 202)['id']}")
    assert restore["status"] == "succeeded", restore

    two.deploy_and_wait(copy_app["id"])
    assert get(two, host, "/read") == "written-on-a"  # A's row, through B's link to B's database
    assert get(two, host, "/write?v=written-on-b") == "written-on-b"
    assert two.api.get(f"/api/projects/{plan['project_id']}/export").text == text
    assert ok(two.api.post("/api/projects/apply", json={"toml": text}), 200)["changed"] is False
    two.api.delete(f"/api/apps/{copy_app['id']}")
    two.api.delete(f"/api/services/{copy_service['id']}", params={"force": "true"})


# Docker only: the volume archive's export and import per engine are tests/e2e/test_backups_e2e.py's; this adds
# the move between servers, which does not depend on the engine (CI's engine part is its critical path).
@pytest.mark.parametrize("engine", ENGINES[:1])
def test_an_app_s_volume_moves_with_its_project(e2e, git_server, engine, tmp_path):
    """The same move for an app's named volume: A's volume archive (a local destination both servers mount,
    unencrypted) imported into B's app that the file re-created with the volume, restored, and the notes the app
    wrote on A are on B."""
    from tests.e2e.test_volumes import add_volume, notes, notes_repo

    one = e2e(engine)
    name = f"mvv-{engine[:3]}"
    host = f"{name}.e2e.test"
    (tmp_path / "archives").mkdir()
    destination = {"name": "shared", "kind": "local", "path": str(tmp_path / "archives")}
    project = ok(one.api.post("/api/projects", json={"name": f"movevol-{engine[:3]}"}))
    app = one.create_app(notes_repo(git_server, name), name, project_id=project["id"])
    add_volume(one, app["id"], name="data", mount_path="/data")
    one.deploy_and_wait(app["id"])
    assert notes(one, host, "from-a") == ["from-a"]
    dest_one = ok(one.api.post("/api/backup-destinations", json=destination))
    run = ok(one.api.post(f"/api/apps/{app['id']}/backups", json={"destination_id": dest_one["id"]}), 202)
    backup = wait_status(one, f"/api/backups/{run['id']}")
    assert backup["status"] == "succeeded", backup
    text = one.api.get(f"/api/projects/{project['id']}/export").text
    assert one.api.delete(f"/api/apps/{app['id']}").status_code in (200, 202, 204)

    two = e2e(engine)
    dest_two = ok(two.api.post("/api/backup-destinations", json=destination))
    plan = ok(two.api.post("/api/projects/apply", json={"toml": text}), 200)
    copy = next(a for a in two.api.get("/api/apps").json()["items"] if a["name"] == name)
    two.deploy_and_wait(copy["id"])
    assert notes(two, host) == []  # its own, empty volume so far
    body = {"destination_id": dest_two["id"], "key": backup["key"], "sha256": backup["sha256"]}
    imported = ok(two.api.post(f"/api/apps/{copy['id']}/backups/import", json=body))
    assert [v["name"] for v in imported["volumes"]] == ["data"], imported
    response = two.api.post(f"/api/backups/{imported['id']}/restore", json={})
    restore = wait_status(two, f"/api/restores/{ok(response, 202)['id']}")
    assert restore["status"] == "succeeded", restore
    assert notes(two, host) == ["from-a"]
    assert plan["project_id"] and two.api.delete(f"/api/apps/{copy['id']}").status_code in (200, 202, 204)
