"""rivetr.toml's path per app (``config_path``) and pull-request previews applying their head's file within the
preview policy (issue 24), with the fake runtime and real git repositories (``git daemon``)."""

from __future__ import annotations

import asyncio
from typing import Any

from rivetr_core.contract import WebhookEvent
from tests import test_deploy_pipeline as pipeline
from tests.test_deploy_pipeline import deploy_and_wait, make_app, wait_status
from tests.test_deploy_repo_config import _env, _log

papi = pipeline.papi
events = pipeline.events
DOMAIN_BASE = "preview.example.com"


async def test_config_path_in_a_subdirectory_is_read(papi, git_server, fake_runtime):
    repo = git_server.create_repo("mono")
    repo.write("rivetr.toml", "port = 9000\n")  # another app's file: not this one's
    repo.write("deploy/web.toml", 'port = 8080\n\n[env]\nLOG_LEVEL = "info"\n')
    repo.commit("two files")
    app = await make_app(papi, repo, config_path="./deploy//web.toml")
    assert app["config_path"] == "deploy/web.toml"  # normalised
    done = await deploy_and_wait(papi, app["id"], ("running", "failed"))
    assert done["status"] == "running", (done["error"], done["log_tail"])
    assert "rivetr.toml: port 8000 -> 8080" in await _log(papi, done["id"])
    assert done["applied_config"]["path"] == "deploy/web.toml"
    assert (await papi.get(f"/api/apps/{app['id']}"))[1]["port"] == 8080
    assert fake_runtime.runs[-1].container_port == 8080

    # Off (null): the file is ignored (the app keeps what it applied before); "" is off too.
    repo.write("deploy/web.toml", "port = 8081\n")
    repo.commit("a change no deployment reads")
    code, body = await papi.put(f"/api/apps/{app['id']}", json={"config_path": None})
    assert code == 200 and body["config_path"] is None, body
    done = await deploy_and_wait(papi, app["id"], ("running", "failed"))
    assert done["status"] == "running" and done["applied_config"] is None, done
    assert not any(line.startswith("rivetr.toml") for line in await _log(papi, done["id"]))
    assert (await papi.get(f"/api/apps/{app['id']}"))[1]["port"] == 8080
    code, body = await papi.put(f"/api/apps/{app['id']}", json={"config_path": ""})
    assert code == 200 and body["config_path"] is None
    code, body = await papi.put(f"/api/apps/{app['id']}", json={"config_path": "rivetr.toml"})
    assert code == 200 and body["config_path"] == "rivetr.toml"


async def test_a_new_app_reads_rivetr_toml_at_the_root(papi, git_server):
    repo = git_server.create_repo("web")
    app = await make_app(papi, repo)
    assert app["config_path"] == "rivetr.toml"


async def test_an_escaping_or_absolute_path_is_a_422(papi, git_server):
    repo = git_server.create_repo("web")
    for bad, words in (
        ("../secrets.toml", "no '..'"),
        ("deploy/../../x.toml", "no '..'"),
        ("/etc/rivetr.toml", "no leading '/'"),
        ("deploy/", "must name a file"),
        ("a" * 256, "at most 255"),
    ):
        code, body = await papi.post(
            "/api/apps", json={"name": "web", "git_url": repo.url, "config_path": bad}
        )
        assert code == 422, body
        assert body["error"]["code"] == "validation_error", body
        assert "config_path" in str(body["error"]["details"]) and words in str(body).lower(), body
    app = await make_app(papi, repo)
    code, body = await papi.put(f"/api/apps/{app['id']}", json={"config_path": "../x.toml"})
    assert code == 422 and "config_path" in str(body["error"]["details"]), body
    assert (await papi.get(f"/api/apps/{app['id']}"))[1]["config_path"] == "rivetr.toml"


# ------------------------------------------------------------------------------------------------- previews
async def _deploy_preview(papi, app_id: str, *, number: int, head: Any, fork: bool) -> tuple[dict, str]:
    """A PR's preview through the preview service (what a verified webhook does), waited for."""
    from rivetr_core.models.apps import App

    ctx = papi.app.extensions["rivetr_ctx"]
    async with ctx.db.session() as session:
        base = await session.get(App, app_id)
    settings = await ctx.services.webhooks.settings.get(app_id)
    event = WebhookEvent(
        provider="github",
        kind="pull_request",
        delivery_id=None,
        ref="main",
        commit_sha=head.head(),
        pr_number=number,
        pr_action="opened",
        pr_head_repo_url=head.url,
        pr_is_fork=fork,
        pr_head_ref="main",
    )
    row, dep_id = await ctx.services.previews.deploy(base, event, settings, DOMAIN_BASE)
    done = await wait_status(papi, dep_id, ("running", "failed"))
    return done, row.preview_app_id


async def _volumes(papi, app_id: str) -> list[str]:
    code, body = await papi.get(f"/api/apps/{app_id}/volumes")
    assert code == 200, body
    items = body["items"] if isinstance(body, dict) else body
    return sorted(v["name"] for v in items)


async def test_a_fork_preview_applies_its_file_within_the_preview_policy(
    papi, git_server, fake_runtime, monkeypatch
):
    async def isolated(name: str, firewall: bool = True) -> str:  # the fake engine's "fork network"
        return name

    monkeypatch.setattr(fake_runtime, "ensure_isolated_network", isolated, raising=False)
    repo = git_server.create_repo("web")
    app = await make_app(papi, repo, memory_limit="256m", cpu_limit=0.5)
    base_before = (await papi.get(f"/api/apps/{app['id']}"))[1]
    fork = git_server.create_repo("fork")
    fork.write(
        "rivetr.toml",
        "port = 8080\n"
        "cpu_limit = 0.25\n"  # lower than the base app's: applies
        'memory_limit = "2g"\n'  # above the base app's 256m: ignored
        "replicas = 3\n"  # above the base app's 1: ignored
        'domains = ["evil.example.com"]\n'
        '\n[env]\nLOG_LEVEL = "debug"\n'
        '\n[[volumes]]\nname = "host"\nmount_path = "/host"\nkind = "bind"\nhost_path = "/etc"\n'
        '\n[[tasks]]\nname = "mine"\nschedule = "* * * * *"\ncommand = "true"\n',
    )
    fork.commit("the fork's file")
    done, preview_id = await _deploy_preview(papi, app["id"], number=8, head=fork, fork=True)
    assert done["status"] == "running", (done["error"], done["log_tail"])
    lines = await _log(papi, done["id"])
    for key in ("memory_limit", "replicas", "domains", "volumes", "tasks"):
        assert f"rivetr.toml: {key} ignored for a fork's preview (preview policy)" in lines, (key, lines)
    assert "rivetr.toml: port 8000 -> 8080" in lines, lines
    assert not any("cpu_limit ignored" in line for line in lines), lines
    assert sorted(done["applied_config"]["ignored"]) == [
        "domains",
        "memory_limit",
        "replicas",
        "tasks",
        "volumes",
    ]
    # The rest applied to the preview app.
    preview = (await papi.get(f"/api/apps/{preview_id}"))[1]
    assert (preview["port"], preview["cpu_limit"], preview["memory_limit"]) == (8080, 0.25, 256 * 1024**2)
    assert preview["replicas"] == 1 and preview["domains"] == [f"pr-8.web.{DOMAIN_BASE}"]
    assert (await _env(papi, preview_id))["LOG_LEVEL"] == "debug"
    assert await _volumes(papi, preview_id) == []
    assert fake_runtime.runs[-1].container_port == 8080
    # The base app is unchanged.
    assert (await papi.get(f"/api/apps/{app['id']}"))[1] == base_before
    assert "LOG_LEVEL" not in await _env(papi, app["id"])
    assert await _volumes(papi, app["id"]) == []


async def test_a_same_repo_preview_applies_the_file_but_not_its_domains(papi, git_server, fake_runtime):
    repo = git_server.create_repo("web")
    app = await make_app(papi, repo, memory_limit="256m")
    repo.write(
        "rivetr.toml",
        'port = 8080\nmemory_limit = "512m"\ndomains = ["web.example.com", "www.example.com"]\n'
        '\n[[volumes]]\nname = "data"\nmount_path = "/data"\n',
    )
    repo.commit("the PR's file")
    done, preview_id = await _deploy_preview(papi, app["id"], number=7, head=repo, fork=False)
    assert done["status"] == "running", (done["error"], done["log_tail"])
    lines = await _log(papi, done["id"])
    assert "rivetr.toml: domains ignored for a pull request's preview (preview policy)" in lines, lines
    assert not any("volumes ignored" in line or "memory_limit ignored" in line for line in lines), lines
    preview = (await papi.get(f"/api/apps/{preview_id}"))[1]
    assert (preview["port"], preview["memory_limit"]) == (8080, 512 * 1024**2)
    assert preview["domains"] == [f"pr-7.web.{DOMAIN_BASE}"]
    assert await _volumes(papi, preview_id) == ["data"]
    base = (await papi.get(f"/api/apps/{app['id']}"))[1]
    assert (base["port"], base["memory_limit"], base["domains"]) == (8000, 256 * 1024**2, ["web.example.com"])
    assert await _volumes(papi, app["id"]) == []
    await asyncio.sleep(0)


async def test_a_rollback_reapplies_the_recorded_file_from_its_path(papi, git_server, fake_runtime):
    repo = git_server.create_repo("mono")
    repo.write("deploy/web.toml", "port = 8080\n")
    repo.commit("v1")
    app = await make_app(papi, repo, config_path="deploy/web.toml")
    v1 = await deploy_and_wait(papi, app["id"], ("running", "failed"))
    repo.write("deploy/web.toml", "port = 8081\n")
    repo.commit("v2")
    v2 = await deploy_and_wait(papi, app["id"], ("running", "failed"))
    assert (v1["status"], v2["status"]) == ("running", "running"), (v1["error"], v2["error"])
    code, body = await papi.put(f"/api/apps/{app['id']}", json={"config_path": "elsewhere.toml"})
    assert code == 200, body
    code, rb = await papi.post(f"/api/deployments/{v1['id']}/rollback")
    assert code == 202, rb
    done = await wait_status(papi, rb["id"], ("running", "failed"))
    assert done["status"] == "running", (done["error"], done["log_tail"])
    assert "rivetr.toml: port 8081 -> 8080" in await _log(papi, done["id"])
    assert done["applied_config"]["path"] == "deploy/web.toml"
    assert (await papi.get(f"/api/apps/{app['id']}"))[1]["port"] == 8080
