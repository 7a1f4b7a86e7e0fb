"""Route settings and backup schedules a repository's rivetr.toml declares (issue 24), with the fake runtime and a
real git repository: their own endpoints refuse changing what the file sets (409 ``managed_by_file``, nothing
applied), a route's basic auth passwords for the users the file names stay settable (a file never holds them),
what the file does not declare stays editable, and a later file that drops it hands it back."""

from __future__ import annotations

from pathlib import Path

from tests import test_deploy_pipeline as pipeline
from tests.test_deploy_pipeline import deploy_and_wait, make_app
from tests.test_managed_by_file import _dashboard

# The pipeline tests' fixtures: an app on the fake runtime with an event-recording plugin.
papi = pipeline.papi
events = pipeline.events

ROUTES = (
    '[route_settings."web.example.com"]\n'
    "compression = false\n"
    'redirects = [{ from = "/old", to = "/new", status = 308 }]\n'
    'basic_auth = { realm = "Staff", users = ["alice"] }\n'
    "\n"
    '[route_settings."Web.Example.com/v1/"]\n'  # the route's key: web.example.com/v1
    "strip_prefix = true\n"
)
BACKUPS = '[[backups]]\ndestination = "nightly"\ncron = "0 2 * * *"\nkeep_last = 3\n'


async def _deploy(papi, repo, app_id: str) -> dict:
    done = await deploy_and_wait(papi, app_id, ("running", "failed"))
    assert done["status"] == "running", (done["error"], done["log_tail"])
    return done


async def test_route_settings_the_file_declares_are_refused_and_handed_back(papi, git_server, fake_runtime):
    repo = git_server.create_repo("web")
    repo.write("rivetr.toml", ROUTES)
    repo.commit("route settings")
    app = await make_app(papi, repo, domains=["web.example.com", "api.example.com", "web.example.com/v1"])
    done = await _deploy(papi, repo, app["id"])
    sha = done["commit_sha"]
    url = "/api/routes/settings/web.example.com"
    _code, applied = await papi.get(url)
    assert applied["compression"] is False and applied["redirects"][0]["to"] == "/new", applied

    # A declared field with an undeclared one: 409 naming the file, its commit and the domain; nothing applied.
    code, body = await papi.put(url, json={"compression": True, "redirect_www": "to-apex"})
    assert code == 409, body
    assert body["error"]["code"] == "managed_by_file"
    assert body["error"]["message"] == (
        f"Managed by rivetr.toml at {sha[:12]}: route web.example.com: setting compression. Change it in the "
        "file and deploy, or remove it from the file to edit it here"
    )
    assert body["error"]["details"]["keys"] == ["compression"] and body["error"]["details"]["commit"] == sha
    _code, now = await papi.get(url)
    assert now["compression"] is False and now["redirect_www"] is None, now
    code, body = await papi.put(url, json={"redirects": []})
    assert code == 409 and "setting redirects" in body["error"]["message"], body
    # A path entry, by the key the routes API spells (the file wrote Web.Example.com/v1/).
    _code, v1 = await papi.get("/api/routes/settings/web.example.com/v1")
    assert v1["strip_prefix"] is True, v1
    code, body = await papi.put("/api/routes/settings/web.example.com/v1", json={"strip_prefix": False})
    assert code == 409 and "route web.example.com/v1: setting strip_prefix" in body["error"]["message"], body

    # Basic auth: the file names the users, the server holds their passwords. Setting alice's is allowed;
    # turning auth off, another realm or a user the file does not name is the file's to decide.
    alice = {"name": "alice", "password": "pw-alice-1"}
    for refused in (
        None,
        {"realm": "Other", "users": [alice]},
        {"realm": "Staff", "users": [{**alice, "name": "bob"}]},
    ):
        code, body = await papi.put(url, json={"basic_auth": refused})
        assert code == 409 and "setting basic_auth" in body["error"]["message"], (refused, body)
    _code, now = await papi.get(url)
    assert now["basic_auth"] is None, now
    code, body = await papi.put(url, json={"basic_auth": {"realm": "Staff", "users": [alice]}})
    assert code == 200 and body["basic_auth"] == {"realm": "Staff", "users": ["alice"]}, body

    # What the file does not set stays editable: another field of this route, and the app's other domain.
    code, body = await papi.put(url, json={"redirect_www": "to-apex"})
    assert code == 200 and body["redirect_www"] == "to-apex", body
    code, body = await papi.put("/api/routes/settings/api.example.com", json={"compression": False})
    assert code == 200 and body["compression"] is False, body

    # The dashboard's domain settings form: the declared fields are disabled with the note; the others are not.
    html = await _dashboard(papi, f"/apps/{app['id']}/settings")
    forms = {part.split('"', 1)[0]: part for part in html.split('data-route-key="')[1:]}
    web, api = forms["web.example.com"], forms["api.example.com"]
    assert f"managed by rivetr.toml at {sha[:12]}" in web and "data-managed-note" not in api
    assert (
        'name="compression" checked disabled' in web
        and 'name="redirects" data-type="json" value="[]" disabled' in web
    )
    assert 'name="redirect_www" data-null>' in web  # not declared: editable
    assert "disabled" not in api.split("</details>", 1)[0]

    # The next commit's file drops route_settings: the route is the dashboard's again.
    repo.write("rivetr.toml", "port = 8000\n")
    repo.commit("routes back to the server")
    await _deploy(papi, repo, app["id"])
    code, body = await papi.put(url, json={"compression": True, "basic_auth": None})
    assert code == 200 and body["compression"] is True and body["basic_auth"] is None, body


async def test_backup_schedules_the_file_declares_are_refused_and_handed_back(
    papi, git_server, fake_runtime, tmp_path: Path
):
    (tmp_path / "archives").mkdir()
    code, dest = await papi.post(
        "/api/backup-destinations",
        json={"name": "nightly", "kind": "local", "path": str(tmp_path / "archives")},
    )
    assert code == 201, dest
    repo = git_server.create_repo("web")
    repo.write("rivetr.toml", BACKUPS)
    repo.commit("backups")
    app = await make_app(papi, repo)
    done = await _deploy(papi, repo, app["id"])
    sha = done["commit_sha"]
    code, page = await papi.get("/api/backup-schedules", query_string={"app_id": app["id"]})
    assert code == 200 and [s["cron"] for s in page["items"]] == ["0 2 * * *"], page
    declared = page["items"][0]["id"]

    code, body = await papi.put(f"/api/backup-schedules/{declared}", json={"enabled": False})
    assert code == 409, body
    assert body["error"]["code"] == "managed_by_file"
    assert body["error"]["message"] == (
        f"Managed by rivetr.toml at {sha[:12]}: backup schedule to nightly at 0 2 * * *. Change it in the file "
        "and deploy, or remove it from the file to edit it here"
    )
    code, body = await papi.delete(f"/api/backup-schedules/{declared}")
    assert code == 409 and body["error"]["code"] == "managed_by_file", body
    code, now = await papi.get(f"/api/backup-schedules/{declared}")
    assert code == 200 and now["enabled"] is True and now["keep_last"] == 3, now  # nothing applied

    # Another schedule of the same app (another cron) is not the file's.
    code, other = await papi.post(
        "/api/backup-schedules",
        json={
            "what": "volumes",
            "app_id": app["id"],
            "destination_id": dest["id"],
            "cron": "0 4 * * *",
            "keep_last": 2,
        },
    )
    assert code == 201, other
    code, body = await papi.put(f"/api/backup-schedules/{other['id']}", json={"enabled": False})
    assert code == 200 and body["enabled"] is False, body

    # The Backups page: the declared row shows the note instead of Pause and Delete; the other row keeps them.
    html = await _dashboard(papi, "/backups")
    rows = {
        row.split('"', 1)[0]: row.split("</tr>", 1)[0] for row in html.split('data-backup-schedule="')[1:]
    }
    assert f"managed by rivetr.toml at {sha[:12]}" in rows[declared]
    assert "Delete</button>" not in rows[declared] and "Pause</button>" not in rows[declared]
    assert "Delete</button>" in rows[other["id"]] and "data-managed-note" not in rows[other["id"]]
    code, body = await papi.delete(f"/api/backup-schedules/{other['id']}")
    assert code == 204, body

    # The next commit's file drops its backups: the schedule stays (a deployment never prunes) and is the
    # dashboard's again.
    repo.write("rivetr.toml", "port = 8000\n")
    repo.commit("backups back to the server")
    await _deploy(papi, repo, app["id"])
    code, body = await papi.put(f"/api/backup-schedules/{declared}", json={"enabled": False})
    assert code == 200 and body["enabled"] is False, body
    code, body = await papi.delete(f"/api/backup-schedules/{declared}")
    assert code == 204, body


async def test_rivetr_apply_of_a_project_file_is_refused_for_what_an_apps_file_manages(
    papi, git_server, fake_runtime
):
    code, project = await papi.post("/api/projects", json={"name": "shop"})
    assert code == 201, project
    repo = git_server.create_repo("web")
    repo.write("rivetr.toml", 'port = 8080\n\n[env]\nLOG_LEVEL = "info"\n\n' + ROUTES)
    repo.commit("managed")
    app = await make_app(
        papi, repo, project_id=project["id"], domains=["web.example.com", "web.example.com/v1"]
    )
    done = await _deploy(papi, repo, app["id"])
    response = await papi.app.test_client().get(
        f"/api/projects/{project['id']}/export?format=json",
        headers={"Authorization": "Bearer test-admin-token-0123456789"},
    )
    assert response.status_code == 200
    document = await response.get_json()
    # The server's own state applied again changes nothing, managed or not.
    code, plan = await papi.post("/api/projects/apply", json={"document": document})
    assert code == 200 and not plan["changed"], plan

    web = document["apps"][0]
    for change, named in (
        ({"port": 9000}, "port"),
        ({"env": {**web.get("env", {}), "LOG_LEVEL": "debug"}}, "env LOG_LEVEL"),
        (
            {"route_settings": {**web["route_settings"], "web.example.com": {"compression": True}}},
            "route web.example.com compression",
        ),
    ):
        for dry_run in (True, False):
            body = {"document": {**document, "apps": [{**web, **change, "hsts": True}]}, "dry_run": dry_run}
            code, refused = await papi.post("/api/projects/apply", json=body)
            assert code == 409 and refused["error"]["code"] == "managed_by_file", (change, refused)
            assert refused["error"]["message"].startswith(
                f"Managed by rivetr.toml at {done['commit_sha'][:12]}: app web: {named}. "
            ), refused
    _code, now = await papi.get(f"/api/apps/{app['id']}")
    assert now["port"] == 8080 and now["hsts"] is False  # nothing of the refused applies
    code, plan = await papi.post(
        "/api/projects/apply", json={"document": {**document, "apps": [{**web, "hsts": True}]}}
    )
    assert code == 200 and plan["changed"], plan  # what the file does not manage applies
