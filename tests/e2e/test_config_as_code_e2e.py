"""Configuration as code on real engines (issue 24): a project built on one Rivetr (an app with a named volume,
env defaults, a secret and a task) is exported, applied to a second Rivetr process with its own data dir, and
the app deployed there answers with what the file says (its volume mounted, its env in the container, its
secret set by hand). Moving the data too (importing the first server's archives on the second) is
tests/e2e/test_project_move_e2e.py."""

from __future__ import annotations

import pytest

from tests.e2e.test_backups_e2e import sh
from tests.e2e.test_volumes import add_volume, notes, notes_repo

pytestmark = pytest.mark.slow

ENGINES = [pytest.param("docker", marks=pytest.mark.docker), pytest.param("podman", marks=pytest.mark.podman)]


@pytest.mark.parametrize("engine", ENGINES)
def test_export_apply_to_a_second_server_then_deploy(e2e, git_server, engine):  # type: ignore[no-untyped-def]
    one = e2e(engine)
    name = f"iac-{engine[:3]}"
    host = f"{name}.e2e.test"
    project = one.api.post("/api/projects", json={"name": f"{name}-project"}).json()
    app = one.create_app(notes_repo(git_server, name), name, project_id=project["id"])
    add_volume(one, app["id"], name="data", mount_path="/data")
    for env in (
        {"key": "LOG_LEVEL", "value": "info"},
        {"key": "API_KEY", "value": "s3cr3t-one", "is_secret": True},
    ):
        assert one.api.post(f"/api/apps/{app['id']}/env-vars", json=env).status_code == 201
    task = {"name": "tidy", "command": "true", "schedule": "0 4 * * *"}
    assert one.api.post(f"/api/apps/{app['id']}/tasks", json=task).status_code == 201
    one.deploy_and_wait(app["id"])
    assert notes(one, host, "one") == ["one"]

    exported = one.api.get(f"/api/projects/{project['id']}/export")
    assert exported.status_code == 200, exported.text
    text = exported.text
    assert "s3cr3t" not in text

    two = e2e(engine)
    applied = two.api.post("/api/projects/apply", json={"toml": text})
    assert applied.status_code == 200, applied.text
    plan = applied.json()
    assert plan["missing_secrets"] == [{"app": name, "name": "API_KEY", "kind": "env", "route": None}]
    copy = next(a for a in two.api.get("/api/apps").json()["items"] if a["name"] == name)
    secret = {"key": "API_KEY", "value": "s3cr3t-two", "is_secret": True}
    assert two.api.post(f"/api/apps/{copy['id']}/env-vars", json=secret).status_code == 201
    two.deploy_and_wait(copy["id"])

    assert notes(two, host, "two") == [
        "two"
    ]  # its own volume, mounted at /data (fresh data: see the docstring)
    assert sh(two, copy["id"], 'echo "$LOG_LEVEL $API_KEY"').strip() == "info s3cr3t-two"
    assert two.api.get(f"/api/projects/{plan['project_id']}/export").text == text
    again = two.api.post("/api/projects/apply", json={"toml": text}).json()
    assert again["changed"] is False
