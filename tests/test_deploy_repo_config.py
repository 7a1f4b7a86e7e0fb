"""A repository's rivetr.toml applied at each deployment (issue 24), with the fake runtime and a real git
repository (``git daemon``): the file's diff in the log, the build and container using the new settings, an
invalid file or a missing secret failing before anything changes, and a rollback restoring the older settings."""

from __future__ import annotations

from tests import test_deploy_pipeline as pipeline
from tests.test_deploy_pipeline import deploy_and_wait, make_app, wait_status

# The pipeline tests' fixtures: an app on the fake runtime with an event-recording plugin.
papi = pipeline.papi
events = pipeline.events


async def _log(api, dep_id: str) -> list[str]:
    code, body = await api.get(f"/api/deployments/{dep_id}/logs")
    assert code == 200, body
    items = body["items"] if isinstance(body, dict) else body
    return [item["line"] if isinstance(item, dict) else item for item in items]


async def _env(api, app_id: str) -> dict[str, str]:
    code, body = await api.get(f"/api/apps/{app_id}/env-vars")
    assert code == 200, body
    items = body["items"] if isinstance(body, dict) else body
    return {v["key"]: v.get("value") for v in items}


async def test_a_valid_file_changes_port_and_env_and_logs_the_diff(papi, git_server, fake_runtime):
    repo = git_server.create_repo("web")
    repo.write("rivetr.toml", 'port = 8080\n\n[env]\nLOG_LEVEL = "info"\n')
    repo.commit("rivetr.toml")
    app = await make_app(papi, repo)
    done = await deploy_and_wait(papi, app["id"], ("running", "failed"))
    assert done["status"] == "running", (done["error"], done["log_tail"])
    lines = await _log(papi, done["id"])
    assert "rivetr.toml: port 8000 -> 8080" in lines, lines
    assert "rivetr.toml: env LOG_LEVEL value (none) -> info" in lines, lines
    # The build and the container used the new settings.
    assert fake_runtime.runs[-1].container_port == 8080
    assert fake_runtime.runs[-1].env["LOG_LEVEL"] == "info"
    _code, now = await papi.get(f"/api/apps/{app['id']}")
    assert now["port"] == 8080
    assert (await _env(papi, app["id"]))["LOG_LEVEL"] == "info"
    config = done["applied_config"]
    assert config["commit"] == done["commit_sha"] and config["path"] == "rivetr.toml"
    assert config["file"] == {"port": 8080, "env": {"LOG_LEVEL": "info"}}
    assert "port 8000 -> 8080" in config["changes"]
    # The same file again: nothing to change, and the log says so.
    again = await deploy_and_wait(papi, app["id"], ("running", "failed"))
    assert again["status"] == "running", again
    assert any(
        line.startswith("rivetr.toml at ") and line.endswith(": settings unchanged")
        for line in await _log(papi, again["id"])
    )


async def test_an_invalid_file_fails_before_anything_changes(papi, git_server, fake_runtime):
    repo = git_server.create_repo("web")
    repo.write("rivetr.toml", '# the app\nport = "eighty"\n\n[env]\nLOG_LEVEL = "info"\n')
    repo.commit("bad rivetr.toml")
    app = await make_app(papi, repo)
    builds = len(fake_runtime.builds)
    done = await deploy_and_wait(papi, app["id"], ("running", "failed"))
    assert done["status"] == "failed"
    assert "invalid rivetr.toml" in done["error"] and "line 2, column 1" in done["error"], done["error"]
    assert done["error"].startswith("invalid rivetr.toml: port (line 2, column 1)"), done["error"]
    lines = await _log(papi, done["id"])
    assert any("line 2, column 1" in line for line in lines), lines
    assert len(fake_runtime.builds) == builds and "build" not in done["steps"]
    _code, now = await papi.get(f"/api/apps/{app['id']}")
    assert now["port"] == 8000
    assert "LOG_LEVEL" not in await _env(papi, app["id"])
    assert done["applied_config"] is None


async def test_a_missing_secret_fails_naming_it(papi, git_server, fake_runtime):
    repo = git_server.create_repo("web")
    repo.write("rivetr.toml", 'port = 8080\nsecrets = ["DATABASE_PASSWORD", "API_KEY"]\n')
    repo.commit("needs secrets")
    app = await make_app(papi, repo)
    code, _ = await papi.post(
        f"/api/apps/{app['id']}/env-vars", json={"key": "API_KEY", "value": "k3y-value", "is_secret": True}
    )
    assert code == 201
    done = await deploy_and_wait(papi, app["id"], ("running", "failed"))
    assert done["status"] == "failed"
    assert "DATABASE_PASSWORD" in done["error"] and "API_KEY" not in done["error"], done["error"]
    _code, now = await papi.get(f"/api/apps/{app['id']}")
    assert now["port"] == 8000  # nothing applied
    assert "build" not in done["steps"]


async def test_a_rollback_restores_the_older_settings(papi, git_server, fake_runtime):
    repo = git_server.create_repo("web")
    repo.write("rivetr.toml", 'port = 8000\n\n[env]\nLOG_LEVEL = "info"\n')
    repo.commit("v1")
    app = await make_app(papi, repo)
    v1 = await deploy_and_wait(papi, app["id"], ("running", "failed"))
    assert v1["status"] == "running", v1
    repo.write("rivetr.toml", 'port = 8080\n\n[env]\nLOG_LEVEL = "debug"\n')
    repo.commit("v2")
    v2 = await deploy_and_wait(papi, app["id"], ("running", "failed"))
    assert v2["status"] == "running", v2
    assert (await papi.get(f"/api/apps/{app['id']}"))[1]["port"] == 8080
    code, rb = await papi.post(f"/api/deployments/{v1['id']}/rollback")
    assert code == 202, rb
    done = await wait_status(papi, rb["id"], ("running", "failed"))
    assert done["status"] == "running", (done["error"], done["log_tail"])
    assert done["image"] == v1["image"]
    _code, now = await papi.get(f"/api/apps/{app['id']}")
    assert now["port"] == 8000
    assert (await _env(papi, app["id"]))["LOG_LEVEL"] == "info"
    assert fake_runtime.runs[-1].container_port == 8000
    assert fake_runtime.runs[-1].env["LOG_LEVEL"] == "info"
    lines = await _log(papi, done["id"])
    assert "rivetr.toml: port 8080 -> 8000" in lines, lines
    assert done["applied_config"]["file"] == v1["applied_config"]["file"]


async def test_cli_deployments_show_lists_the_applied_keys(papi, git_server, fake_runtime, monkeypatch):
    """``rivetr deployments show`` prints the "rivetr.toml at <commit>" section from the API's answer."""
    from click.testing import CliRunner

    from rivetr_core.cli.deployments_cmd import config_lines

    repo = git_server.create_repo("web")
    repo.write("rivetr.toml", 'port = 8080\n\n[env]\nLOG_LEVEL = "info"\n')
    repo.commit("rivetr.toml")
    app = await make_app(papi, repo)
    done = await deploy_and_wait(papi, app["id"], ("running", "failed"))
    lines = config_lines(done["applied_config"])
    assert lines[0] == f"rivetr.toml at {done['commit_sha'][:12]}:"
    assert '  env = {"LOG_LEVEL": "info"}' in lines and "  port = 8080" in lines
    assert "    port 8000 -> 8080" in lines
    assert config_lines(None) == []

    from rivetr_core.cli import client as cli_client
    from rivetr_core.cli.main import cli

    class FakeClient:  # the HTTP answer is the API's own (taken from the in-process server above)
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def get(self, path, **kw):
            assert path == f"/api/deployments/{done['id']}"
            return done

    monkeypatch.setattr(cli_client.Connection, "client", lambda self: FakeClient())
    result = CliRunner().invoke(cli, ["deployments", "show", done["id"], "--url", "http://127.0.0.1:1"])
    assert result.exit_code == 0, result.output
    assert f"rivetr.toml at {done['commit_sha'][:12]}:" in result.output
    assert "port 8000 -> 8080" in result.output


async def test_dashboard_deployment_shows_the_applied_file(papi, git_server, fake_runtime):
    """The app page's deployment list has a "rivetr.toml at <commit>" section with the applied keys."""
    import re

    from tests.support.server import ADMIN_TOKEN

    repo = git_server.create_repo("web")
    repo.write("rivetr.toml", 'port = 8080\n\n[env]\nLOG_LEVEL = "info"\n')
    repo.commit("rivetr.toml")
    app = await make_app(papi, repo)
    done = await deploy_and_wait(papi, app["id"], ("running", "failed"))
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
    html = await (await client.get(f"/apps/{app['id']}/partials/deployments")).get_data(as_text=True)
    section = html[html.index(f'data-applied-config="{done["id"]}"') :]
    section = section[: section.index("</details>")]
    assert f"rivetr.toml at <code>{done['commit_sha'][:12]}</code>" in section
    assert "<code>port</code> = <code>8080</code>" in section
    assert "<code>env</code>" in section and "LOG_LEVEL" in section
    assert "port 8000 -&gt; 8080" in section
