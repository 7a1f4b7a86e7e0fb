"""What an app's repository file manages (issue 24) is refused by the services that change it, not only by the
API's handlers: a caller in the process (a template, a plugin, a future endpoint, a dashboard form) gets the
same 409 ``managed_by_file`` and nothing changes, while the deployment applying the file itself (and a caller
that says ``managed_ok``) still changes it. With the fake runtime and a real git repository."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rivetr_core.contract.errors import Conflict
from tests import test_deploy_pipeline as pipeline
from tests.test_deploy_pipeline import deploy_and_wait, make_app

# The pipeline tests' fixtures: an app on the fake runtime with an event-recording plugin.
papi = pipeline.papi
events = pipeline.events

#: A file that manages one of everything the services refuse: app settings (port, replicas), a variable, a
#: volume, a task, a link, git settings, a route's settings and a backup schedule.
FILE = """\
port = 8080
replicas = 1

[env]
LOG_LEVEL = "info"

[[volumes]]
name = "uploads"
mount_path = "/app/uploads"

[[tasks]]
name = "cleanup"
command = "true"
schedule = "0 3 * * *"

[[links]]
service = "db"

[git_settings]
auto_deploy = false

[route_settings."web.example.com"]
compression = false

[[backups]]
destination = "nightly"
cron = "0 2 * * *"
keep_last = 3
"""

#: The next commit's file: every managed value changed, for the deployment to apply.
LATER = (
    FILE.replace("port = 8080", "port = 8081")
    .replace('LOG_LEVEL = "info"', 'LOG_LEVEL = "debug"')
    .replace('mount_path = "/app/uploads"', 'mount_path = "/app/uploads"\nread_only = true')
    .replace('schedule = "0 3 * * *"', 'schedule = "0 4 * * *"')
    .replace('service = "db"', 'service = "db"\nenv_prefix = "PRIMARY"')
    .replace("auto_deploy = false", "auto_deploy = true")
    .replace("compression = false", "compression = true")
    .replace("keep_last = 3", "keep_last = 5")
)


async def _setup(papi, git_server, tmp_path: Path) -> tuple[Any, dict, dict]:
    """A project with a service ``db``, a backup destination ``nightly`` and the app ``web`` deployed with
    :data:`FILE`."""
    code, project = await papi.post("/api/projects", json={"name": "shop"})
    assert code == 201, project
    code, service = await papi.post(
        "/api/services", json={"name": "db", "type": "redis", "project_id": project["id"]}
    )
    assert code == 201, service
    (tmp_path / "archives").mkdir()
    code, dest = await papi.post(
        "/api/backup-destinations",
        json={"name": "nightly", "kind": "local", "path": str(tmp_path / "archives")},
    )
    assert code == 201, dest
    repo = git_server.create_repo("web")
    repo.write("rivetr.toml", FILE)
    repo.commit("managed")
    app = await make_app(papi, repo, project_id=project["id"])
    done = await deploy_and_wait(papi, app["id"], ("running", "failed"))
    assert done["status"] == "running", (done["error"], done["log_tail"])
    return repo, app, done


async def _rows(papi, app_id: str) -> dict[str, Any]:
    """The app's file-managed rows as the API shows them now."""
    base = f"/api/apps/{app_id}"
    out: dict[str, Any] = {}
    _code, out["app"] = await papi.get(base)
    _code, out["env"] = await papi.get(f"{base}/env-vars/LOG_LEVEL", query_string={"reveal": "true"})
    _code, volumes = await papi.get(f"{base}/volumes")
    out["volume"] = next(v for v in volumes["items"] if v["name"] == "uploads")
    _code, tasks = await papi.get(f"{base}/tasks")
    out["task"] = next(t for t in tasks["items"] if t["name"] == "cleanup")
    _code, links = await papi.get(f"{base}/links")
    (out["link"],) = links["items"]
    _code, out["git"] = await papi.get(f"{base}/git-settings")
    _code, out["route"] = await papi.get("/api/routes/settings/web.example.com")
    _code, schedules = await papi.get("/api/backup-schedules", query_string={"app_id": app_id})
    (out["backup"],) = schedules["items"]
    return out


async def test_a_caller_in_the_process_is_refused_by_each_service_and_the_files_deployment_is_not(
    papi, git_server, fake_runtime, tmp_path: Path
):
    from rivetr_core.engine.replicas import scale
    from rivetr_core.services.env_bulk import import_env
    from rivetr_core.services.service_links import ServiceLinkService
    from rivetr_core.services.tasks import TaskService

    repo, app, done = await _setup(papi, git_server, tmp_path)
    ctx = papi.app.extensions["rivetr_ctx"]
    app_id = app["id"]
    before = await _rows(papi, app_id)
    assert before["app"]["managed_by_file"]["commit"] == done["commit_sha"]
    services = ctx.services
    tasks, links = TaskService(ctx), ServiceLinkService(ctx)
    volume_id, task_id = before["volume"]["id"], before["task"]["id"]
    link_id, schedule_id = before["link"]["id"], before["backup"]["id"]

    # Every service function that changes a managed setting, called directly (no request, no handler).
    calls: dict[str, Any] = {
        "setting port": lambda: services.apps.update(app_id, {"port": 9000, "hsts": True}),
        "setting replicas": lambda: scale(ctx, app_id, 2),
        "variable LOG_LEVEL": lambda: services.apps.add_env_var(app_id, "LOG_LEVEL", "x", is_secret=False),
        "variable LOG_LEVEL ": lambda: services.apps.update_env_var(app_id, "LOG_LEVEL", value="debug"),
        " variable LOG_LEVEL": lambda: services.apps.delete_env_var(app_id, "LOG_LEVEL"),
        "variable LOG_LEVEL.": lambda: import_env(ctx, app_id, [("OTHER", "1"), ("LOG_LEVEL", "debug")]),
        "volume uploads": lambda: services.volumes.update(app_id, volume_id, {"read_only": True}),
        "volume uploads ": lambda: services.volumes.delete(app_id, volume_id),
        "task cleanup": lambda: tasks.update(app_id, task_id, {"enabled": False}),
        "task cleanup ": lambda: tasks.delete(app_id, task_id),
        "link to db": lambda: links.delete(app_id, link_id),
        "git setting auto_deploy": lambda: services.webhooks.update_git_settings(
            app_id, {"auto_deploy": True, "follow_tags": True}
        ),
        "route web.example.com: setting compression": lambda: services.routes.put_settings(
            "web.example.com", {"compression": True, "redirect_www": "to-apex"}
        ),
        "backup schedule to nightly at 0 2 * * *": lambda: services.backups.update_schedule(
            schedule_id, {"enabled": False}
        ),
        "backup schedule to nightly at 0 2 * * * ": lambda: services.backups.delete_schedule(schedule_id),
    }
    where = f"Managed by rivetr.toml at {done['commit_sha'][:12]}: "
    wrong: dict[str, str] = {}  # each call not refused as the API refuses it → what happened instead
    for named, call in calls.items():
        try:
            await call()
        except Conflict as refused:
            expected = where + named.strip(" .") + ". Change "
            if refused.code != "managed_by_file" or not refused.message.startswith(expected):
                wrong[named] = f"{refused.code}: {refused.message}"
        else:
            wrong[named] = "applied"
    assert wrong == {}
    # A dry run of the import is refused the same way (the dashboard's preview of a pasted .env).
    with pytest.raises(Conflict):
        await import_env(ctx, app_id, [("LOG_LEVEL", "debug")], dry_run=True)
    # Nothing of any refused call applied, the unmanaged parts of the same calls neither.
    assert await _rows(papi, app_id) == before
    code, _body = await papi.get(f"/api/apps/{app_id}/env-vars/OTHER")
    assert code == 404
    assert before["app"]["hsts"] is False and before["route"]["redirect_www"] is None
    # What the file does not manage stays editable through the same services.
    _app, _domains = await services.apps.update(app_id, {"hsts": True})
    assert (await services.routes.put_settings("web.example.com", {"redirect_www": "to-apex"}))[
        "redirect_www"
    ] == "to-apex"

    # The file's own deployment changes every one of them (it says managed_ok), and records the new commit.
    repo.write("rivetr.toml", LATER)
    repo.commit("every managed value changed")
    later = await deploy_and_wait(papi, app_id, ("running", "failed"))
    assert later["status"] == "running", (later["error"], later["log_tail"])
    after = await _rows(papi, app_id)
    assert after["app"]["port"] == 8081 and after["app"]["hsts"] is True
    assert after["app"]["managed_by_file"]["commit"] == later["commit_sha"]
    assert after["env"]["value"] == "debug"
    assert after["volume"]["read_only"] is True and after["volume"]["id"] == volume_id
    assert after["task"]["schedule"] == "0 4 * * *" and after["task"]["id"] == task_id
    assert after["link"]["env_prefix"] == "PRIMARY"  # relinked: the old link deleted, a new one made
    assert after["git"]["auto_deploy"] is True
    assert after["route"]["compression"] is True and after["route"]["redirect_www"] == "to-apex"
    assert after["backup"]["keep_last"] == 5 and after["backup"]["id"] == schedule_id

    # A caller that says managed_ok is let through (what the deployment and rivetr apply do), the others not.
    with pytest.raises(Conflict):
        await services.apps.update(app_id, {"port": 9000})
    await services.apps.update(app_id, {"port": 9000}, managed_ok=True)
    _code, now = await papi.get(f"/api/apps/{app_id}")
    assert now["port"] == 9000


def test_the_dashboard_changes_nothing_itself_so_the_services_cover_it() -> None:
    """The dashboard's pages change settings with REST calls from the browser (its views hold no form handler
    that writes an app's settings, variables, volumes, tasks, links, git or route settings or schedules), so
    the services' refusals answer it as they answer the API. Its only form posts are the sign-in ones."""
    import tempfile

    from rivetr_core.app import create_app
    from tests.support.server import make_config

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(make_config(Path(tmp) / "data"))
        writes = sorted(
            rule.endpoint
            for rule in app.url_map.iter_rules()
            if rule.endpoint.startswith("ui.")
            and set(rule.methods or ()) & {"POST", "PUT", "PATCH", "DELETE"}
        )
    assert writes == ["ui.invite", "ui.login", "ui.logout", "ui.reset", "ui.setup"]
