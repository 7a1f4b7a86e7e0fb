"""Host protection settings: [runtime] defaults, per-app overrides through the API, and the container spec the
pipeline builds from them (engine-level proof: tests/test_host_protection.py and tests/e2e)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from rivetr_core.config import RivetrConfig
from rivetr_core.engine.pipeline import AppSnapshot, run_spec
from rivetr_core.models.apps import App, Deployment
from tests.support.server import ApiClient

GOOD = {"name": "web", "git_url": "https://git.example.com/acme/web.git", "port": 8000}
MiB = 1024**2


def _spec(config: RivetrConfig, **app_fields: object):  # type: ignore[no-untyped-def]
    app = App(name="web", git_url="https://git.example.com/a/web.git", **app_fields)
    service = SimpleNamespace(ctx=SimpleNamespace(config=config), labels=lambda app_id, dep_id: {})
    snap = AppSnapshot(app=app, domains=[], env={}, ssh_private_key=None, git_token=None)
    return run_spec(service, snap, Deployment(app_id=app.id), "localhost/x:1")  # type: ignore[arg-type]


def test_defaults_protect_every_container(config_factory) -> None:
    config = config_factory()
    runtime = config.runtime
    assert (runtime.default_memory_limit, runtime.pids_limit) == (1024**3, 4096)
    assert (runtime.log_max_size, runtime.log_max_files, runtime.oom_score_adj) == (10 * MiB, 3, 500)
    spec = _spec(config)
    assert (spec.memory_limit, spec.pids_limit) == (1024**3, 4096)
    assert (spec.log_max_size, spec.log_max_files, spec.oom_score_adj) == (10 * MiB, 3, 500)


def test_app_overrides_win_and_zero_means_unlimited(config_factory) -> None:
    config = config_factory()
    spec = _spec(config, memory_limit=64 * MiB, pids_limit=128, log_max_size=MiB, log_max_files=2)
    assert (spec.memory_limit, spec.pids_limit, spec.log_max_size, spec.log_max_files) == (
        64 * MiB,
        128,
        MiB,
        2,
    )
    spec = _spec(config, memory_limit=0, pids_limit=0)
    assert spec.memory_limit is None and spec.pids_limit is None


def test_server_can_turn_defaults_off(config_factory) -> None:
    config = config_factory(
        runtime={"default_memory_limit": "0", "log_max_size": 0, "oom_score_adj": 0, "pids_limit": 0}
    )
    spec = _spec(config, log_max_files=5)
    assert spec.memory_limit is None and spec.pids_limit is None and spec.oom_score_adj is None
    assert spec.log_max_size is None and spec.log_max_files is None  # the engine's own log settings


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"oom_score_adj": -100}, "oom_score_adj"),
        ({"oom_score_adj": 1001}, "oom_score_adj"),
        ({"log_max_files": 0}, "log_max_files"),
        ({"log_max_size": "lots"}, "log_max_size"),
        ({"pids_limit": 8}, "pids_limit"),
    ],
)
def test_bad_runtime_settings_are_config_errors(config_factory, section, message) -> None:
    with pytest.raises(Exception, match=message):
        config_factory(runtime=section)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("pids_limit", 8),
        ("pids_limit", -1),
        ("pids_limit", "many"),
        ("log_max_size", "1k"),
        ("log_max_size", "2g"),
        ("log_max_size", 0),
        ("log_max_files", 0),
        ("log_max_files", 101),
        ("memory_limit", -5),
    ],
)
async def test_invalid_limit_is_named(api: ApiClient, field, value) -> None:
    code, body = await api.post("/api/apps", json={**GOOD, field: value})
    assert code == 422, body
    assert body["error"]["details"][0]["field"] == field


async def test_overrides_are_stored_shown_and_cleared(api: ApiClient) -> None:
    code, app = await api.post("/api/apps", json=GOOD)
    assert code == 201, app
    assert (app["pids_limit"], app["log_max_size"], app["log_max_files"]) == (None, None, None)
    assert app["effective_limits"] == {
        "cpu": None,
        "memory": 1024**3,
        "pids": 4096,
        "log_max_size": 10 * MiB,
        "log_max_files": 3,
        "oom_score_adj": 500,
    }
    update = {"memory_limit": "256m", "pids_limit": 200, "log_max_size": "1m", "log_max_files": 2}
    code, app = await api.put(f"/api/apps/{app['id']}", json=update)
    assert code == 200, app
    assert (app["memory_limit"], app["pids_limit"], app["log_max_size"]) == (256 * MiB, 200, MiB)
    assert app["effective_limits"]["log_max_files"] == 2 and app["effective_limits"]["memory"] == 256 * MiB
    code, app = await api.put(f"/api/apps/{app['id']}", json={"memory_limit": 0, "pids_limit": 0})
    assert code == 200 and app["memory_limit"] == 0 and app["effective_limits"]["memory"] is None
    assert app["effective_limits"]["pids"] is None
    code, app = await api.put(f"/api/apps/{app['id']}", json=dict.fromkeys(update))
    assert code == 200, app
    assert (
        app["effective_limits"]["memory"] == 1024**3 and app["effective_limits"]["log_max_size"] == 10 * MiB
    )
    code, fetched = await api.get(f"/api/apps/{app['id']}")
    assert fetched["effective_limits"] == app["effective_limits"]


async def test_openapi_documents_the_limit_fields(api: ApiClient) -> None:
    code, spec = await api.get("/openapi.json")
    assert code == 200
    for method in ("post", "put"):
        path = "/api/apps" if method == "post" else "/api/apps/{app_id}"
        schema = spec["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
        assert {"pids_limit", "log_max_size", "log_max_files", "memory_limit"} <= set(schema["properties"])


def test_cli_shows_and_changes_the_limits(rivetr_server) -> None:
    from click.testing import CliRunner

    from rivetr_core.cli.main import cli

    server = rivetr_server()
    env = {"RIVETR_URL": server.url, "RIVETR_TOKEN": server.token, "RIVETR_LOGIN_FILE": "/nonexistent"}
    with server.client() as client:
        response = client.post("/api/apps", json={**GOOD, "git_url": "git://127.0.0.1:9/x.git"})
        assert response.status_code == 201, response.text

    def run(*args: str) -> str:
        result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    shown = run("apps", "show", "web")
    assert "memory 1g, pids 4096, cpu unlimited, logs 10m x 3, oom score +500" in shown
    changed = run("apps", "limits", "web", "--memory", "256m", "--pids", "0", "--log-max-size", "2m")
    rows = {line.split()[0]: line.split()[1:] for line in changed.splitlines()[1:] if line.strip()}
    assert rows["memory"] == ["256m", "256m"] and rows["pids"] == ["0", "unlimited"], changed
    assert "applies at the next deployment" in changed
    with server.client() as client:
        app = client.get("/api/apps").json()["items"][0]
    assert (app["memory_limit"], app["pids_limit"], app["log_max_size"]) == (256 * MiB, 0, 2 * MiB)
    run("apps", "limits", "web", "--memory", "default", "--pids", "default")
    limits = json.loads(run("apps", "limits", "web", "--json"))
    assert limits["memory_limit"] is None and limits["effective_limits"]["memory"] == 1024**3
    result = CliRunner().invoke(cli, ["apps", "limits", "web", "--pids", "lots"], env=env)
    assert result.exit_code == 2 and "whole number" in result.output
    result = CliRunner().invoke(cli, ["apps", "limits", "web", "--log-max-size", "1k"], env=env)
    assert result.exit_code == 2 and "log_max_size" in result.output
