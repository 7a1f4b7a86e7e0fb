"""Configuration as code through the API (issue 24): export → apply to a fresh server → export gives the same
file; dry runs change nothing; a second apply changes nothing and says so; a bad file is a 422 naming the key,
its line and column. In-process apps on real data dirs (no engine: services are created, never started here)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tests.support.server import ApiClient, make_config

GIT = "https://git.example.com/team/shop.git"
ROUTE_SETTINGS = {
    "redirects": [{"from": "/old", "to": "/new", "status": 308}],
    "compression": False,
    "basic_auth": {"realm": "Staff", "users": [{"name": "alice", "password": "pw-alice-very-secret"}]},
}
COMPOSE = "services:\n  redis:\n    image: redis:7\n    profiles: [debug]\n"


@asynccontextmanager
async def server(data_dir: Path) -> AsyncIterator[ApiClient]:
    from rivetr_core.app import create_app

    app = create_app(make_config(data_dir))
    async with app.test_app():
        yield ApiClient(app)


async def add_destination(api: ApiClient, tmp: Path) -> str:
    """A local backup destination named "nightly" (a server's own: a file names it, never creates it)."""
    (tmp / "backups").mkdir(parents=True, exist_ok=True)
    body = {"name": "nightly", "kind": "local", "path": str(tmp / "backups")}
    status, out = await api.post("/api/backup-destinations", json=body)
    assert status == 201, out
    return str(out["id"])


async def seed(api: ApiClient, tmp: Path) -> str:
    """A project as a user builds it through the API: a service, an app with settings, env, a secret, a
    volume, a task and a link."""
    status, project = await api.post("/api/projects", json={"name": "shop", "description": "the shop"})
    assert status == 201, project
    status, service = await api.post(
        "/api/services",
        json={"name": "db", "type": "postgres", "project_id": project["id"], "memory_limit": "256m"},
    )
    assert status == 201, service
    body = {
        "name": "web",
        "git_url": GIT,
        "project_id": project["id"],
        "port": 8000,
        "domains": ["shop.example.com"],
        "memory_limit": "512m",
        "health_check": {"kind": "http", "path": "/healthz", "retries": 10},
        "release_command": "python manage.py migrate",
    }
    status, app = await api.post("/api/apps", json=body)
    assert status == 201, app
    for env in (
        {"key": "LOG_LEVEL", "value": "info"},
        {"key": "NODE_ENV", "value": "production", "scope": "both"},
        {"key": "DATABASE_PASSWORD", "value": "hunter2-very-secret", "is_secret": True},
    ):
        status, out = await api.post(f"/api/apps/{app['id']}/env-vars", json=env)
        assert status == 201, out
    status, out = await api.post(
        f"/api/apps/{app['id']}/volumes", json={"name": "uploads", "mount_path": "/app/up"}
    )
    assert status == 201, out
    task = {"name": "cleanup", "command": "echo clean", "schedule": "0 3 * * *"}
    status, out = await api.post(f"/api/apps/{app['id']}/tasks", json=task)
    assert status == 201, out
    status, out = await api.post(f"/api/apps/{app['id']}/links", json={"service_id": service["id"]})
    assert status == 201, out
    destination = await add_destination(api, tmp)
    schedule = {"app_id": app["id"], "destination_id": destination, "cron": "0 2 * * *", "keep_last": 7}
    status, out = await api.post("/api/backup-schedules", json=schedule)
    assert status == 201, out
    schedule = {
        "service_id": service["id"],
        "destination_id": destination,
        "cron": "30 1 * * *",
        "keep_daily": 7,
    }
    status, out = await api.post("/api/backup-schedules", json=schedule)
    assert status == 201, out
    stack = {"name": "cache", "project_id": project["id"], "compose": COMPOSE, "profiles": ["debug"]}
    status, out = await api.post("/api/stacks", json=stack)
    assert status == 201, out
    status, out = await api.put("/api/routes/settings/shop.example.com", json=ROUTE_SETTINGS)
    assert status == 200, out
    git = {"previews_enabled": False, "follow_tags": True, "tag_pattern": "v*"}
    status, out = await api.put(f"/api/apps/{app['id']}/git-settings", json=git)
    assert status == 200, out
    return str(project["id"])


async def app_named(api: ApiClient, name: str) -> dict[str, Any]:
    status, page = await api.get("/api/apps")
    assert status == 200, page
    return next(a for a in page["items"] if a["name"] == name)


async def export(api: ApiClient, project: str, fmt: str = "toml") -> Any:
    response = await api.client.get(
        f"/api/projects/{project}/export?format={fmt}",
        headers={"Authorization": "Bearer test-admin-token-0123456789"},
    )
    assert response.status_code == 200, await response.get_data(as_text=True)
    if fmt == "json":
        return await response.get_json()
    assert response.mimetype == "application/toml"
    return await response.get_data(as_text=True)


async def test_export_apply_to_a_fresh_server_export_again_is_the_same_file(tmp_path: Path) -> None:
    async with server(tmp_path / "one") as api:
        project_id = await seed(api, tmp_path)
        text = await export(api, project_id)
        by_name = await export(api, "shop", "json")
    assert "hunter2" not in text and "hunter2" not in str(by_name)  # secrets are names only
    assert (
        "pw-alice" not in text and "$2" not in text
    )  # basic auth users too: names, never passwords or hashes
    assert by_name["apps"][0]["route_settings"] == {
        "shop.example.com": {
            "redirects": [{"from": "/old", "to": "/new", "status": 308}],
            "compression": False,
            "basic_auth": {"realm": "Staff", "users": ["alice"]},
        }
    }
    assert 'secrets = [\n    "DATABASE_PASSWORD",\n]' in text or 'secrets = ["DATABASE_PASSWORD"]' in text
    assert 'LOG_LEVEL = "info"' in text and "port = 8000" in text and 'path = "/healthz"' in text
    assert by_name["apps"][0]["build_env"] == {"NODE_ENV": "production"}
    assert by_name["stacks"] == [{"name": "cache", "compose": COMPOSE, "profiles": ["debug"]}]
    assert 'compose = """\nservices:\n  redis:\n' in text  # a readable block, not one escaped line
    assert by_name["apps"][0]["git_settings"] == {
        "follow_tags": True,
        "tag_pattern": "v*",
        "previews_enabled": False,
    }
    assert by_name["services"] == [
        {
            "name": "db",
            "type": "postgres",
            "version": "16",
            "memory_limit": 256 * 1024**2,
            "backups": [{"destination": "nightly", "cron": "30 1 * * *", "keep_daily": 7}],
        }
    ]
    assert by_name["apps"][0]["backups"] == [{"destination": "nightly", "cron": "0 2 * * *", "keep_last": 7}]

    async with server(tmp_path / "two") as api:
        status, body = await api.post("/api/projects/apply", json={"toml": text, "dry_run": True})
        assert status == 422, body  # backup destinations hold credentials: each server has its own
        assert body["error"]["details"][0]["field"] == "services[0].backups[0].destination"
        assert body["error"]["details"][0]["message"].startswith("No backup destination named nightly")
        await add_destination(api, tmp_path / "two")
        status, plan = await api.post("/api/projects/apply", json={"toml": text, "dry_run": True})
        assert status == 200, plan
        assert plan["changed"] and plan["dry_run"] and plan["project_id"] is None
        actions = {c["resource"]: c["action"] for c in plan["changes"]}
        assert actions["project shop"] == actions["app web"] == actions["service db"] == "create"
        assert actions["app web: link db"] == actions["app web: volume uploads"] == "create"
        assert actions["app web: git settings"] == "create"
        assert actions["stack cache"] == "create"
        assert actions["app web: route shop.example.com"] == "update"
        assert actions["app web: backup to nightly at 0 2 * * *"] == "create"
        assert actions["service db: backup to nightly at 30 1 * * *"] == "create"
        assert plan["missing_secrets"] == [
            {"app": "web", "name": "DATABASE_PASSWORD", "kind": "env", "route": None},
            {"app": "web", "name": "alice", "kind": "basic_auth", "route": "shop.example.com"},
        ]
        status, page = await api.get("/api/projects")
        assert page["items"] == []  # the dry run changed nothing

        status, plan = await api.post("/api/projects/apply", json={"toml": text})
        assert status == 200, plan
        assert plan["changed"] and not plan["dry_run"] and plan["project_id"]
        assert plan["missing_secrets"] == [
            {"app": "web", "name": "DATABASE_PASSWORD", "kind": "env", "route": None},
            {"app": "web", "name": "alice", "kind": "basic_auth", "route": "shop.example.com"},
        ]
        web = await app_named(api, "web")
        secret = {"key": "DATABASE_PASSWORD", "value": "another-secret", "is_secret": True}
        assert (await api.post(f"/api/apps/{web['id']}/env-vars", json=secret))[
            0
        ] == 201  # by hand, as docs say
        auth = {
            "basic_auth": {"realm": "Staff", "users": [{"name": "alice", "password": "another-password"}]}
        }
        assert (await api.put("/api/routes/settings/shop.example.com", json=auth))[0] == 200
        assert await export(api, plan["project_id"]) == text

        status, again = await api.post("/api/projects/apply", json={"toml": text})
        assert status == 200, again
        assert not again["changed"] and again["message"].startswith("nothing to change")
        assert {c["action"] for c in again["changes"]} == {"unchanged"}


async def test_update_plan_names_old_and_new_and_leaves_what_is_not_in_the_file(tmp_path: Path) -> None:
    async with server(tmp_path / "data") as api:
        project_id = await seed(api, tmp_path)
        document = await export(api, project_id, "json")
        web = document["apps"][0]
        web["port"] = 9000
        web["env"]["LOG_LEVEL"] = "debug"
        del web["volumes"]
        document["stacks"][0]["profiles"] = []
        status, plan = await api.post("/api/projects/apply", json={"document": document, "dry_run": True})
        assert status == 200, plan
        changes = {c["resource"]: c for c in plan["changes"]}
        assert changes["app web"]["action"] == "update"
        assert changes["app web"]["fields"] == {"port": {"old": 8000, "new": 9000}}
        assert changes["app web: env LOG_LEVEL"]["fields"]["value"] == {"old": "info", "new": "debug"}
        assert changes["app web: volume uploads"]["action"] == "not_in_file"
        assert changes["stack cache"]["fields"] == {"profiles": {"old": ["debug"], "new": []}}
        assert changes["app web: secret DATABASE_PASSWORD"]["action"] == "unchanged"
        assert plan["missing_secrets"] == []
        assert (await app_named(api, "web"))["port"] == 8000  # the dry run changed nothing

        status, plan = await api.post("/api/projects/apply", json={"document": document})
        assert status == 200 and plan["changed"], plan
        app = await app_named(api, "web")
        assert app["port"] == 9000
        _, stacks = await api.get("/api/stacks")
        assert [(st["name"], st["profiles"]) for st in stacks["items"]] == [("cache", [])]
        _, volumes = await api.get(f"/api/apps/{app['id']}/volumes")
        assert [v["name"] for v in volumes["items"]] == ["uploads"]  # not in the file: left alone
        # Each change is audited as the API call it stands for, next to the apply request's own entry.
        status, audit = await api.get(f"/api/audit?target={app['id']}")
        assert status == 200, audit
        entries = {(e["action"], e["path"], e["status"]) for e in audit["items"]}
        assert ("apps_api.update_app", f"/api/apps/{app['id']}", 200) in entries
        assert ("env_vars_api.update_env_var", f"/api/apps/{app['id']}/env-vars/LOG_LEVEL", 200) in entries
        _, audit = await api.get("/api/audit?action=projects_iac_api.apply_project")
        assert len(audit["items"]) == 2  # the dry run and the apply

        status, plan = await api.post("/api/projects/apply", json={"document": document, "prune": True})
        assert status == 200, plan
        assert {c["resource"]: c["action"] for c in plan["changes"]}["app web: volume uploads"] == "delete"
        _, volumes = await api.get(f"/api/apps/{app['id']}/volumes")
        assert volumes["items"] == []
        _, secret = await api.get(f"/api/apps/{app['id']}/env-vars/DATABASE_PASSWORD")
        assert secret["is_secret"]  # named in secrets: kept, never touched


BAD = """[project]
name = "shop"

[[apps]]
name = "web"
git_url = "https://git.example.com/team/shop.git"

[[apps]]
name = "api"
git_url = "https://git.example.com/team/api.git"
port = 0
"""


async def test_a_bad_file_is_a_422_naming_the_key_line_and_column(tmp_path: Path) -> None:
    async with server(tmp_path / "data") as api:
        status, body = await api.post("/api/projects/apply", json={"toml": BAD})
        assert status == 422, body
        assert body["error"]["code"] == "validation_error"
        assert body["error"]["details"][0] == {
            "field": "apps[1].port",
            "message": "Input should be greater than or equal to 1",
            "line": 11,
            "column": 1,
        }
        assert "apps[1].port (line 11, column 1)" in body["error"]["message"]

        status, body = await api.post("/api/projects/apply", json={"toml": '[project]\nname = "shop\n'})
        assert status == 422 and body["error"]["code"] == "invalid_toml", body
        assert body["error"]["details"][0]["line"] == 2

        status, body = await api.post(
            "/api/projects/apply",
            json={
                "toml": BAD.replace("port = 0", "port = 80").replace(
                    'git_url = "https://git.example.com/team/api.git"\n', ""
                )
            },
        )
        assert status == 422 and body["error"]["details"][0]["field"] == "apps[1].git_url", body

        linked = BAD.replace("port = 0", '[[apps.links]]\nservice = "nowhere"')
        status, body = await api.post("/api/projects/apply", json={"toml": linked})
        assert status == 422, body
        assert body["error"]["details"][0]["field"] == "apps[1].links[0].service"
        status, page = await api.get("/api/projects")
        assert page["items"] == []  # refused before anything changed

        status, body = await api.post("/api/projects/apply", json={"toml": BAD, "document": {}})
        assert status == 422, body


async def test_schemas_are_published(tmp_path: Path) -> None:
    async with server(tmp_path / "data") as api:
        status, schema = await api.get("/api/schemas/rivetr.toml")
        assert status == 200
        assert schema["title"] == "rivetr.toml"
        assert schema["properties"]["port"]["maximum"] == 65535  # the apps API's own rule
        assert {"env", "secrets", "volumes", "tasks", "links", "health_check"} <= set(schema["properties"])
        assert "name" not in schema["properties"]
        status, schema = await api.get("/api/schemas/project.toml")
        assert status == 200 and schema["required"] == ["project"]
        status, _ = await api.get("/api/schemas/rivetr.toml", auth=False)
        assert status == 401


IMAGE_APP = """[project]
name = "images"

[[apps]]
name = "api"
source = { kind = "image", image = "registry.example.com/team/api:1.4" }
port = 8080
domains = ["api.example.com"]
"""


async def test_an_image_app_round_trips_and_a_refused_change_names_the_resource(tmp_path: Path) -> None:
    async with server(tmp_path / "data") as api:
        status, plan = await api.post("/api/projects/apply", json={"toml": IMAGE_APP})
        assert status == 200 and plan["changed"], plan
        app = await app_named(api, "api")
        assert (app["source_kind"], app["image"], app["git_url"]) == (
            "image",
            "registry.example.com/team/api:1.4",
            "",
        )
        text = await export(api, "images")
        document = await export(api, "images", "json")
        assert document["apps"][0]["source"] == {
            "kind": "image",
            "image": "registry.example.com/team/api:1.4",
        }
        assert "git_url" not in text
        status, again = await api.post("/api/projects/apply", json={"toml": text})
        assert status == 200 and not again["changed"], again

        # Another project's app holds a domain the file gives: the app service refuses it (409) when applying;
        # the error names the resource and what was applied before it.
        status, other = await api.post(
            "/api/apps", json={"name": "squatter", "git_url": GIT, "domains": ["taken.example.com"]}
        )
        assert status == 201, other
        clash = IMAGE_APP.replace('name = "images"', 'name = "images"\ndescription = "v2"').replace(
            '"api.example.com"', '"taken.example.com"'
        )
        status, body = await api.post("/api/projects/apply", json={"toml": clash})
        assert status == 409, body
        assert body["error"]["message"].startswith("App api: ")
        assert body["error"]["details"]["resource"] == "app api"
        assert body["error"]["details"]["applied"] == ["update project images"]
        assert (await app_named(api, "api"))["domains"] == ["api.example.com"]

        # A service's type cannot change: refused before anything changes.
        status, _ = await api.post(
            "/api/services", json={"name": "kv", "type": "redis", "project_id": plan["project_id"]}
        )
        assert status == 201
        typed = IMAGE_APP + '\n[[services]]\nname = "kv"\ntype = "postgres"\n'
        status, body = await api.post("/api/projects/apply", json={"toml": typed})
        assert status == 422 and body["error"]["details"][0]["field"] == "services[0].type", body


CONFIG_PATHS = f"""[project]
name = "mono"

[[apps]]
name = "web"
git_url = "{GIT}"
config_path = "./deploy//web.toml"

[[apps]]
name = "api"
git_url = "{GIT}"
"""


async def test_config_path_of_a_project_files_app_is_applied_and_exported(tmp_path: Path) -> None:
    """``config_path`` is a project file's key only (rivetr.toml cannot move itself): applied like the app's
    other keys, exported unless at the default, "" turning the app's file off."""
    async with server(tmp_path / "data") as api:
        status, plan = await api.post("/api/projects/apply", json={"toml": CONFIG_PATHS})
        assert status == 200 and plan["changed"], plan
        assert (await app_named(api, "web"))["config_path"] == "deploy/web.toml"  # normalised as the API does
        assert (await app_named(api, "api"))["config_path"] == "rivetr.toml"
        document = await export(api, "mono", "json")
        by_name = {app["name"]: app for app in document["apps"]}
        assert by_name["web"]["config_path"] == "deploy/web.toml" and "config_path" not in by_name["api"]
        status, again = await api.post("/api/projects/apply", json={"toml": await export(api, "mono")})
        assert status == 200 and not again["changed"], again

        off = CONFIG_PATHS.replace('"./deploy//web.toml"', '""')
        status, plan = await api.post("/api/projects/apply", json={"toml": off})
        assert status == 200, plan
        changes = {c["resource"]: c for c in plan["changes"]}
        assert changes["app web"]["fields"] == {"config_path": {"old": "deploy/web.toml", "new": None}}
        assert (await app_named(api, "web"))["config_path"] is None
        assert 'config_path = ""' in await export(api, "mono")

        bad = CONFIG_PATHS.replace('"./deploy//web.toml"', '"../web.toml"')
        status, body = await api.post("/api/projects/apply", json={"toml": bad})
        assert status == 422 and body["error"]["details"][0]["field"] == "apps[0].config_path", body
        status, schema = await api.get("/api/schemas/rivetr.toml")
        assert status == 200 and "config_path" not in schema["properties"]
