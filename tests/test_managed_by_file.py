"""Settings managed by a repository's rivetr.toml (issue 24), with the fake runtime and a real git repository:
the app answers ``managed_by_file``, the API refuses changing a managed setting or variable (409, nothing of the
request applied), a later file that drops a key hands it back, each deployment whose file changed settings is
in the audit log, and ``rivetr apps show`` names the managed keys."""

from __future__ import annotations

from typing import Any

from tests import test_deploy_pipeline as pipeline
from tests.test_deploy_pipeline import deploy_and_wait, make_app

# The pipeline tests' fixtures: an app on the fake runtime with an event-recording plugin.
papi = pipeline.papi
events = pipeline.events


async def _deployed(papi, git_server, text: str) -> tuple[Any, dict, dict]:
    repo = git_server.create_repo("web")
    repo.write("rivetr.toml", text)
    repo.commit("rivetr.toml")
    app = await make_app(papi, repo)
    done = await deploy_and_wait(papi, app["id"], ("running", "failed"))
    assert done["status"] == "running", (done["error"], done["log_tail"])
    return repo, app, done


async def _cli_against(papi, monkeypatch, calls) -> dict[tuple[str, str], Any]:
    """Serve the CLI's own client (it runs synchronously) the in-process API's answers to ``calls``
    ((method, path, body, query)); anything else answers 404."""
    import httpx

    from rivetr_core.cli import client as cli_client

    answers = {}
    for method, path, body, query in calls:
        call = papi.get(path, query_string=query or {}) if method == "GET" else papi.put(path, json=body)
        answers[(method, path)] = await call

    def answer(request: httpx.Request) -> httpx.Response:
        code, body = answers.get((request.method, request.url.path), (404, {"error": {"message": "no"}}))
        return httpx.Response(code, json=body)

    real_client = cli_client.Connection.client

    def client(self, **kw):
        made = real_client(self, **kw)
        made.http = httpx.Client(base_url="http://rivetr.test", transport=httpx.MockTransport(answer))
        return made

    monkeypatch.setattr(cli_client.Connection, "client", client)
    monkeypatch.setenv("RIVETR_TOKEN", "t")
    return answers


URL = ["--url", "http://rivetr.test"]


async def test_managed_settings_are_refused_whole_and_handed_back_when_the_file_drops_them(
    papi, git_server, fake_runtime
):
    repo, app, done = await _deployed(
        papi, git_server, 'port = 8080\nhealth_check = { kind = "tcp" }\n\n[env]\nLOG_LEVEL = "info"\n'
    )
    sha = done["commit_sha"]
    code, body = await papi.get(f"/api/apps/{app['id']}")
    assert code == 200
    assert body["managed_by_file"] == {
        "path": "rivetr.toml",
        "commit": sha,
        "deployment_id": done["id"],
        "keys": ["env", "health_check", "port"],
        "env": ["LOG_LEVEL"],
    }

    # A managed key with an unmanaged one: 409, and neither is applied.
    code, body = await papi.put(f"/api/apps/{app['id']}", json={"port": 9000, "hsts": True})
    assert code == 409, body
    error = body["error"]
    assert error["code"] == "managed_by_file"
    assert error["message"] == (
        f"Managed by rivetr.toml at {sha[:12]}: setting port. Change it in the file and deploy, or remove it "
        "from the file to edit it here"
    )
    assert error["details"]["keys"] == ["port"] and error["details"]["commit"] == sha
    _code, now = await papi.get(f"/api/apps/{app['id']}")
    assert now["port"] == 8080 and now["hsts"] is False
    # The legacy health-check fields are the managed health_check too.
    code, body = await papi.put(f"/api/apps/{app['id']}", json={"healthcheck_path": "/up"})
    assert code == 409 and body["error"]["details"]["keys"] == ["healthcheck_path"], body
    # Unmanaged settings stay editable.
    code, body = await papi.put(f"/api/apps/{app['id']}", json={"hsts": True})
    assert code == 200 and body["hsts"] is True, body
    assert body["managed_by_file"]["keys"] == ["env", "health_check", "port"]

    # The file's env defaults are managed by name; other variables (and secrets) are not.
    code, body = await papi.put(f"/api/apps/{app['id']}/env-vars/LOG_LEVEL", json={"value": "debug"})
    assert code == 409 and body["error"]["code"] == "managed_by_file", body
    assert "variable LOG_LEVEL" in body["error"]["message"]
    code, body = await papi.delete(f"/api/apps/{app['id']}/env-vars/LOG_LEVEL")
    assert code == 409, body
    code, body = await papi.post(
        f"/api/apps/{app['id']}/env-vars/bulk", json={"dotenv": "OTHER=1\nLOG_LEVEL=debug\n"}
    )
    assert code == 409, body
    code, body = await papi.get(f"/api/apps/{app['id']}/env-vars/OTHER")
    assert code == 404, body  # the bulk request applied nothing
    code, body = await papi.post(f"/api/apps/{app['id']}/env-vars", json={"key": "OTHER", "value": "1"})
    assert code == 201, body

    # The next commit's file drops port and env: both are the dashboard's again.
    repo.write("rivetr.toml", 'health_check = { kind = "tcp" }\n')
    repo.commit("port and env back to the server")
    later = await deploy_and_wait(papi, app["id"], ("running", "failed"))
    assert later["status"] == "running", later
    _code, now = await papi.get(f"/api/apps/{app['id']}")
    assert now["managed_by_file"]["keys"] == ["health_check"] and now["managed_by_file"]["env"] == []
    assert now["managed_by_file"]["commit"] == later["commit_sha"]
    code, body = await papi.put(f"/api/apps/{app['id']}", json={"port": 9000})
    assert code == 200 and body["port"] == 9000, body
    code, body = await papi.put(f"/api/apps/{app['id']}/env-vars/LOG_LEVEL", json={"value": "debug"})
    assert code == 200, body
    code, body = await papi.put(
        f"/api/apps/{app['id']}", json={"health_check": {"kind": "http", "path": "/"}}
    )
    assert code == 409, body


async def test_git_settings_and_replicas_from_the_file_are_refused_through_their_endpoints(
    papi, git_server, fake_runtime
):
    _repo, app, _done = await _deployed(
        papi, git_server, "replicas = 1\n\n[git_settings]\nauto_deploy = false\n"
    )
    _code, body = await papi.get(f"/api/apps/{app['id']}")
    assert body["managed_by_file"]["keys"] == ["git_settings", "replicas"]
    # Scaling would be undone by the next deployment: refused like a PUT of replicas.
    code, body = await papi.post(f"/api/apps/{app['id']}/scale", json={"replicas": 2})
    assert code == 409 and "setting replicas" in body["error"]["message"], body
    url = f"/api/apps/{app['id']}/git-settings"
    code, body = await papi.put(url, json={"auto_deploy": True, "follow_tags": True})
    assert code == 409 and body["error"]["code"] == "managed_by_file", body
    assert "git setting auto_deploy" in body["error"]["message"]
    _code, now = await papi.get(url)
    assert now["auto_deploy"] is False and now["follow_tags"] is False  # nothing applied
    code, body = await papi.put(url, json={"follow_tags": True})
    assert code == 200 and body["follow_tags"] is True, body


async def test_volumes_and_tasks_the_file_declares_are_refused_by_name(papi, git_server, fake_runtime):
    _repo, app, _done = await _deployed(
        papi,
        git_server,
        '[[volumes]]\nname = "uploads"\nmount_path = "/app/uploads"\n\n'
        '[[tasks]]\nname = "cleanup"\ncommand = "true"\nschedule = "0 3 * * *"\n',
    )
    base = f"/api/apps/{app['id']}"
    _code, listing = await papi.get(f"{base}/volumes")
    uploads = next(v for v in listing["items"] if v["name"] == "uploads")
    code, body = await papi.put(f"{base}/volumes/{uploads['id']}", json={"read_only": True})
    assert code == 409 and "volume uploads" in body["error"]["message"], body
    code, body = await papi.delete(f"{base}/volumes/{uploads['id']}")
    assert code == 409, body
    code, cache = await papi.post(f"{base}/volumes", json={"name": "cache", "mount_path": "/cache"})
    assert code == 201, cache
    code, body = await papi.put(f"{base}/volumes/{cache['id']}", json={"read_only": True})
    assert code == 200, body  # not the file's
    _code, tasks = await papi.get(f"{base}/tasks")
    cleanup = next(task for task in tasks["items"] if task["name"] == "cleanup")
    code, body = await papi.put(f"{base}/tasks/{cleanup['id']}", json={"enabled": False})
    assert code == 409 and "task cleanup" in body["error"]["message"], body
    code, body = await papi.delete(f"{base}/tasks/{cleanup['id']}")
    assert code == 409, body


async def test_a_link_the_file_declares_is_refused_by_service_name(papi, git_server, fake_runtime):
    code, project = await papi.post("/api/projects", json={"name": "shop"})
    assert code == 201, project
    for name in ("db", "cache"):
        code, service = await papi.post(
            "/api/services", json={"name": name, "type": "redis", "project_id": project["id"]}
        )
        assert code == 201, service
    repo = git_server.create_repo("web")
    repo.write("rivetr.toml", '[[links]]\nservice = "db"\n')
    repo.commit("linked")
    app = await make_app(papi, repo, project_id=project["id"])
    done = await deploy_and_wait(papi, app["id"], ("running", "failed"))
    assert done["status"] == "running", (done["error"], done["log_tail"])
    base = f"/api/apps/{app['id']}/links"
    _code, services = await papi.get("/api/services")
    cache = next(s for s in services["items"] if s["name"] == "cache")
    code, other = await papi.post(base, json={"service_id": cache["id"], "env_prefix": "CACHE"})
    assert code == 201, other
    _code, links = await papi.get(base)
    declared = next(link for link in links["items"] if link["id"] != other["id"])
    code, body = await papi.delete(f"{base}/{declared['id']}")
    assert code == 409 and "link to db" in body["error"]["message"], body
    # The dashboard's Links tab: the declared link says so instead of offering Remove.
    html = await _dashboard(papi, f"/apps/{app['id']}/partials/links")
    rows = {row.split('"', 1)[0]: row for row in html.split('<tr data-link="')[1:]}
    assert "managed by rivetr.toml at " + done["commit_sha"][:12] in rows[declared["env_prefix"]]
    assert "Remove</button>" not in rows[declared["env_prefix"]]
    assert "Remove</button>" in rows["CACHE"] and "data-managed-note" not in rows["CACHE"]
    code, body = await papi.delete(f"{base}/{other['id']}")
    assert code == 204, body  # not the file's


async def test_an_app_without_a_file_manages_nothing(papi, git_server, fake_runtime):
    repo = git_server.create_repo("web")
    repo.write("README", "no rivetr.toml here\n")
    repo.commit("plain")
    app = await make_app(papi, repo)
    done = await deploy_and_wait(papi, app["id"], ("running", "failed"))
    assert done["status"] == "running", done
    _code, now = await papi.get(f"/api/apps/{app['id']}")
    assert now["managed_by_file"] is None
    code, body = await papi.put(f"/api/apps/{app['id']}", json={"port": 9000})
    assert code == 200, body


async def test_a_deployment_that_changed_settings_is_audited(papi, git_server, fake_runtime, monkeypatch):
    _repo, app, done = await _deployed(papi, git_server, 'port = 8080\n\n[env]\nLOG_LEVEL = "info"\n')
    actor = f"rivetr.toml at {done['commit_sha'][:12]}"
    code, page = await papi.get("/api/audit", query_string={"actor": actor})
    assert code == 200, page
    entries = page["items"]
    assert len(entries) == 1, entries
    entry = entries[0]
    assert entry["action"] == "deployments.repo_config"
    assert entry["target"] == {"app_id": app["id"], "deployment_id": done["id"]}
    assert entry["outcome"] == "success"
    assert "port 8000 -> 8080" in entry["changes"]
    assert "env LOG_LEVEL value (none) -> info" in entry["changes"]
    # The same file again changes nothing: no new entry.
    again = await deploy_and_wait(papi, app["id"], ("running", "failed"))
    assert again["status"] == "running"
    _code, page = await papi.get("/api/audit", query_string={"actor": actor})
    assert len(page["items"]) == 1, page["items"]
    # A request's entry has no changes (its body is never stored).
    _code, page = await papi.get("/api/audit", query_string={"action": "apps_api.create_app"})
    assert page["items"] and page["items"][0]["changes"] is None

    # The dashboard's audit log shows the entry with its changes.
    html = await _dashboard(papi, f"/audit?user={actor}")
    row = html[html.index(f'data-entry="{entry["id"]}"') :]
    row = row[: row.index("</tr>")]
    assert "Changed app settings from the repository&#39;s rivetr.toml" in row, row
    assert actor in row and "<li>port 8000 -&gt; 8080</li>" in row, row
    # And rivetr audit prints them below its table.
    from click.testing import CliRunner

    from rivetr_core.cli.main import cli

    await _cli_against(
        papi, monkeypatch, [("GET", "/api/audit", None, {"actor": actor}), ("GET", "/api/teams", None, None)]
    )
    result = CliRunner().invoke(cli, ["audit", "--actor", actor, *URL])
    assert result.exit_code == 0, result.output
    assert f"{actor}: " in result.output and "port 8000 -> 8080; " in result.output, result.output


async def _dashboard(papi, path: str) -> str:
    """A dashboard page, signed in as the first user (set up through the setup form)."""
    import re

    from tests.support.server import ADMIN_TOKEN

    client = papi.app.test_client()
    page = await (await client.get("/setup")).get_data(as_text=True)
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert csrf
    password = "correct horse battery"
    form = {"username": "alice", "password": password, "password_confirm": password}
    response = await client.post(
        "/setup", form={**form, "setup_token": ADMIN_TOKEN, "csrf_token": csrf.group(1)}
    )
    assert response.status_code == 302
    return await (await client.get(path)).get_data(as_text=True)


async def test_cli_apps_show_names_the_managed_keys_and_a_refusal_prints_the_apis_message(
    papi, git_server, fake_runtime, monkeypatch
):
    from click.testing import CliRunner

    from rivetr_core.cli.main import cli
    from rivetr_core.cli.managed_by_file import managed_line

    _repo, app, done = await _deployed(
        papi, git_server, 'port = 8080\ndockerfile = "Dockerfile"\n\n[env]\nLOG_LEVEL = "info"\n'
    )
    sha = done["commit_sha"][:12]
    line = f"managed by rivetr.toml at {sha}: dockerfile, env (LOG_LEVEL), port"
    _code, full = await papi.get(f"/api/apps/{app['id']}")
    assert managed_line(full["managed_by_file"]) == line
    assert managed_line(None) is None
    answers = await _cli_against(
        papi,
        monkeypatch,
        [
            ("GET", "/api/apps/web", None, None),
            ("GET", "/api/apps", None, None),
            ("GET", f"/api/apps/{app['id']}", None, None),
            ("GET", f"/api/apps/{app['id']}/deployments", None, None),
            ("PUT", f"/api/apps/{app['id']}", {"dockerfile": "Dockerfile.prod"}, None),
        ],
    )
    assert answers[("PUT", f"/api/apps/{app['id']}")][0] == 409
    result = CliRunner().invoke(cli, ["apps", "show", "web", *URL])
    assert result.exit_code == 0, result.output
    assert line in result.output.splitlines(), result.output
    result = CliRunner().invoke(cli, ["apps", "update", "web", "--dockerfile", "Dockerfile.prod", *URL])
    assert result.exit_code != 0
    assert f"Managed by rivetr.toml at {sha}: setting dockerfile. Change it in the file" in result.output
