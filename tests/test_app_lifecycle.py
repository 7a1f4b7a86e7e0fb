"""App stop, start and restart (``POST /api/apps/{id}/stop|start|restart``, rivetr_core.services.app_lifecycle)
through the real app with the FAKE runtime: the container is stopped and kept (same id at start), the routes lose
their upstream while stopped (the proxy's 503) and get it back, restart keeps the image and container but gives a
new start time, the 409s (not_running, not_stopped, deployment_in_progress, health_check_failed), the crash
watcher and a deployment's route sync leave a stopped app stopped, a deployment brings it back, the events, the
audit entries and a viewer's 403. Real engines, the proxy and a Rivetr restart: tests/e2e/test_app_lifecycle_e2e.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rivetr_core.contract import RivetrEvent
from rivetr_core.testing import FakeRuntime
from tests.support.server import ApiClient, api_on, make_config
from tests.support.team_members import bearer, member_token

IMAGE = "registry.example.com/team/web:1"
DOMAIN = "web.example.test"


class Events:
    __rivetr_name__ = "test-lifecycle-events"

    def __init__(self) -> None:
        self.events: list[RivetrEvent] = []

    def rivetr_on_event(self, event: RivetrEvent) -> None:
        self.events.append(event)

    def types(self) -> list[str]:
        return [e.type for e in self.events if e.type.startswith("app_")]


@pytest.fixture
def events() -> Events:
    from rivetr_core import hookimpl

    hookimpl(Events.rivetr_on_event)
    return Events()


@pytest.fixture
async def api(tmp_path: Path, fake_runtime: FakeRuntime, events: Events) -> AsyncIterator[ApiClient]:
    fake_runtime.publish(IMAGE, body="hello")
    # A fast crash watcher: the tests show it leaves a stopped app alone.
    config = make_config(tmp_path / "data", runtime={"crash_check_interval": 0.05})
    async with api_on(fake_runtime, config, plugins=[events]) as client:
        yield client


async def deployed(api: ApiClient, name: str = "web", **fields: Any) -> dict[str, Any]:
    code, app = await api.post(
        "/api/apps",
        json={"name": name, "source": {"kind": "image", "image": IMAGE}, "port": 8080, **fields},
    )
    assert code == 201, app
    await deploy(api, app["id"])
    return await show(api, app["id"])


async def deploy(api: ApiClient, app_id: str) -> dict[str, Any]:
    code, dep = await api.post(f"/api/apps/{app_id}/deploy", json={})
    assert code == 202, dep
    async with asyncio.timeout(15):
        while dep["status"] not in ("running", "failed", "cancelled"):
            await asyncio.sleep(0.02)
            code, dep = await api.get(f"/api/deployments/{dep['id']}")
    assert dep["status"] == "running", dep
    return dep  # type: ignore[no-any-return]


async def show(api: ApiClient, app_id: str) -> dict[str, Any]:
    code, app = await api.get(f"/api/apps/{app_id}")
    assert code == 200, app
    return app  # type: ignore[no-any-return]


async def upstreams(api: ApiClient, domain: str = DOMAIN) -> list[str]:
    route = await api.ctx.services.routes.get(domain)
    assert route is not None
    return list(route.upstreams)


async def current(api: ApiClient, app: dict[str, Any]) -> dict[str, Any]:
    code, dep = await api.get(f"/api/deployments/{app['current_deployment_id']}")
    assert code == 200, dep
    return dep  # type: ignore[no-any-return]


async def test_stop_then_start_keeps_the_container_and_moves_the_route(
    api: ApiClient, fake_runtime: FakeRuntime, events: Events
) -> None:
    app = await deployed(api, domains=[DOMAIN])
    dep = await current(api, app)
    container = dep["container_id"]
    assert await upstreams(api) == [dep["upstream"]]

    code, stopped = await api.post(f"/api/apps/{app['id']}/stop")
    assert code == 200, stopped
    assert stopped["status"] == "stopped" and stopped["current_deployment_id"] == dep["id"]
    assert container in fake_runtime.containers and container not in fake_runtime.live()  # kept, stopped
    assert await upstreams(api) == []  # the proxy answers 503 for the domain
    assert (await current(api, app))["status"] == "running"  # the deployment record stays as it was

    # The crash watcher (every 0.05 s here) leaves a stopped app alone.
    await asyncio.sleep(0.3)
    assert container not in fake_runtime.live() and not fake_runtime.calls_to("start")

    code, started = await api.post(f"/api/apps/{app['id']}/start")
    assert code == 200, started
    assert started["status"] == "running"
    assert fake_runtime.calls_to("start") == [{"container_id": container}]
    assert container in fake_runtime.live() and len(fake_runtime.runs) == 1  # the same container, no new run
    assert await upstreams(api) == [(await current(api, app))["upstream"]]
    assert events.types() == ["app_stopped", "app_started"]
    assert {e.app_id for e in events.events if e.type.startswith("app_")} == {app["id"]}


async def test_restart_runs_the_same_container_again(
    api: ApiClient, fake_runtime: FakeRuntime, events: Events
) -> None:
    app = await deployed(api, domains=[DOMAIN])
    dep = await current(api, app)
    container = dep["container_id"]
    before = fake_runtime.containers[container].started_at
    await asyncio.sleep(0.01)

    code, body = await api.post(f"/api/apps/{app['id']}/restart")
    assert code == 200 and body["status"] == "running", body
    assert fake_runtime.calls_to("stop")[-1]["container_id"] == container
    assert fake_runtime.calls_to("start") == [{"container_id": container}]
    after = fake_runtime.containers[container]
    assert after.running and after.started_at is not None and before is not None and after.started_at > before
    assert len(fake_runtime.runs) == 1 and after.spec.image == dep["image"]  # in place: no redeploy
    assert (await current(api, app))["id"] == dep["id"]
    assert await upstreams(api) == [(await current(api, app))["upstream"]]
    assert events.types() == ["app_restarted"]


async def test_conflicts_name_the_state(api: ApiClient, fake_runtime: FakeRuntime) -> None:
    code, fresh = await api.post(
        "/api/apps", json={"name": "fresh", "source": {"kind": "image", "image": IMAGE}, "port": 8080}
    )
    assert code == 201
    for action, wanted in (("stop", "not_running"), ("restart", "not_running"), ("start", "not_stopped")):
        code, err = await api.post(f"/api/apps/{fresh['id']}/{action}")
        assert code == 409 and err["error"]["code"] == wanted, (action, err)
        assert err["error"]["details"] == {"status": "created"}

    app = await deployed(api)
    code, err = await api.post(f"/api/apps/{app['id']}/start")
    assert code == 409 and err["error"]["code"] == "not_stopped", err
    assert (await api.post(f"/api/apps/{app['id']}/stop"))[0] == 200
    for action in ("stop", "restart"):
        code, err = await api.post(f"/api/apps/{app['id']}/{action}")
        assert code == 409 and err["error"]["code"] == "not_running", (action, err)
        assert "stopped" in err["error"]["message"]

    code, err = await api.post("/api/apps/nope/stop")
    assert code == 404 and err["error"]["code"] == "not_found", err


async def test_a_deployment_in_progress_is_a_conflict(api: ApiClient, fake_runtime: FakeRuntime) -> None:
    app = await deployed(api)
    fake_runtime.delays["pull"] = 1.0
    code, dep = await api.post(f"/api/apps/{app['id']}/deploy", json={})
    assert code == 202, dep
    for action in ("stop", "restart", "start"):
        code, err = await api.post(f"/api/apps/{app['id']}/{action}")
        assert code == 409 and err["error"]["code"] == "deployment_in_progress", (action, err)
        assert err["error"]["details"] == {"deployment_id": dep["id"]}
    fake_runtime.delays.clear()


async def test_a_deployment_of_a_stopped_app_brings_it_back(
    api: ApiClient, fake_runtime: FakeRuntime
) -> None:
    app = await deployed(api, domains=[DOMAIN])
    assert (await api.post(f"/api/apps/{app['id']}/stop"))[0] == 200
    # Changing the domains of a stopped app keeps it unserved (the route sync must not revive the old upstream).
    code, body = await api.put(f"/api/apps/{app['id']}", json={"domains": [DOMAIN, "www.example.test"]})
    assert code == 200, body
    assert await upstreams(api) == []
    dep = await deploy(api, app["id"])
    shown = await show(api, app["id"])
    assert shown["status"] == "running" and shown["current_deployment_id"] == dep["id"]
    assert await upstreams(api) == [dep["upstream"]] == await upstreams(api, "www.example.test")
    assert dep["container_id"] in fake_runtime.live()


async def test_a_start_that_fails_its_health_check_stays_stopped(
    api: ApiClient, fake_runtime: FakeRuntime, events: Events
) -> None:
    app = await deployed(api, domains=[DOMAIN])
    container = (await current(api, app))["container_id"]
    assert (await api.post(f"/api/apps/{app['id']}/stop"))[0] == 200
    # The check as it is now applies (the container answers 200, never the 204 asked for).
    check = {"kind": "http", "status": 204, "retries": 2, "interval": 0.01}
    assert (await api.put(f"/api/apps/{app['id']}", json={"health_check": check}))[0] == 200

    code, err = await api.post(f"/api/apps/{app['id']}/start")
    assert code == 409 and err["error"]["code"] == "health_check_failed", err
    assert any("health check 2/2" in line for line in err["error"]["details"]["log"]), err
    assert (await show(api, app["id"]))["status"] == "stopped"
    assert container not in fake_runtime.live() and await upstreams(api) == []
    assert events.types() == ["app_stopped"]


async def test_a_container_gone_while_stopped_asks_for_a_deployment(
    api: ApiClient, fake_runtime: FakeRuntime
) -> None:
    app = await deployed(api)
    container = (await current(api, app))["container_id"]
    assert (await api.post(f"/api/apps/{app['id']}/stop"))[0] == 200
    await fake_runtime.remove(container)
    code, err = await api.post(f"/api/apps/{app['id']}/start")
    assert code == 409 and err["error"]["code"] == "container_gone", err
    assert "deploy" in err["error"]["message"]


async def test_a_viewer_cannot_operate_and_a_developer_can(api: ApiClient) -> None:
    code, team = await api.post("/api/teams", json={"name": "ops"})
    assert code == 201, team
    code, project = await api.post("/api/projects", json={"name": "ops-proj", "team_id": team["id"]})
    assert code == 201, project
    app = await deployed(api, project_id=project["id"])
    viewer = await member_token(api, "vera", team["id"], "viewer", scopes=("read",))
    developer = await member_token(api, "dev", team["id"], "developer")
    for action in ("stop", "restart", "start"):
        code, err = await api.post(f"/api/apps/{app['id']}/{action}", **bearer(viewer))
        assert code == 403, (action, err)
    assert (await show(api, app["id"]))["status"] == "running"
    code, body = await api.post(f"/api/apps/{app['id']}/stop", **bearer(developer))
    assert code == 200 and body["status"] == "stopped", body
    code, body = await api.post(f"/api/apps/{app['id']}/start", **bearer(developer))
    assert code == 200 and body["status"] == "running", body


async def test_audit_entries_name_the_operation(api: ApiClient) -> None:
    app = await deployed(api)
    for action in ("restart", "stop", "start"):
        assert (await api.post(f"/api/apps/{app['id']}/{action}"))[0] == 200
    code, page = await api.get("/api/audit?action=app_lifecycle_api.&limit=200")
    assert code == 200, page
    actions = [e["action"] for e in page["items"]]
    for action in (
        "app_lifecycle_api.restart_app",
        "app_lifecycle_api.stop_app",
        "app_lifecycle_api.start_app",
    ):
        assert action in actions, actions


def test_the_cli_stops_starts_and_restarts_by_name(tmp_path: Path) -> None:
    import httpx
    from click.testing import CliRunner

    from rivetr_core.cli.main import cli
    from tests.support.cli import api_in_thread
    from tests.support.server import AUTH

    fake = FakeRuntime()
    fake.publish(IMAGE, body="hello")

    async def seed(_accounts: Any) -> None:
        return None

    try:
        with api_in_thread(tmp_path / "data", seed) as (url, app):
            app.extensions["rivetr_ctx"]._runtime = fake
            with httpx.Client(base_url=url, headers=AUTH, timeout=30) as admin:
                created = admin.post(
                    "/api/apps",
                    json={"name": "web", "source": {"kind": "image", "image": IMAGE}, "port": 8080},
                ).json()
                dep = admin.post(f"/api/apps/{created['id']}/deploy", json={}).json()
                for _ in range(500):
                    if admin.get(f"/api/deployments/{dep['id']}").json()["status"] == "running":
                        break
                    time.sleep(0.02)
                status = lambda: admin.get(f"/api/apps/{created['id']}").json()["status"]  # noqa: E731

                env = {"RIVETR_URL": url, "RIVETR_TOKEN": AUTH["Authorization"].split()[1]}
                env["RIVETR_LOGIN_FILE"] = str(tmp_path / "login.json")

                def run(*args: str, input: str | None = None) -> Any:
                    return CliRunner().invoke(cli, list(args), env=env, input=input, catch_exceptions=False)

                refused = run("apps", "stop", "web", input="n\n")
                assert refused.exit_code == 1 and "503" in refused.output, refused.output
                assert status() == "running"
                result = run("apps", "stop", "web", input="y\n")
                assert result.exit_code == 0 and "web: stopped" in result.output, result.output
                assert status() == "stopped"
                again = run("apps", "stop", "web", "--yes")
                assert again.exit_code != 0 and "nothing runs to stop" in again.output, again.output
                result = run("apps", "start", "web")
                assert result.exit_code == 0 and result.output.strip() == "web: running", result.output
                result = run("apps", "restart", "web", "--json")
                assert result.exit_code == 0, result.output
                assert json.loads(result.output)["status"] == "running"
    finally:
        fake.shutdown()


async def _page_as(api: ApiClient, username: str, path: str) -> str:
    """``path`` of the dashboard as ``username`` (password login: the browser's session)."""
    from tests.support.team_members import PASSWORD

    client = api.app.test_client()
    response = await client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, await response.get_data(as_text=True)
    response = await client.get(path)
    assert response.status_code == 200, path
    return str(await response.get_data(as_text=True))


async def test_the_app_page_offers_what_fits_the_state_and_the_role(api: ApiClient) -> None:
    from tests.support.team_members import PASSWORD

    await api.ctx.services.accounts.create_user("olga", PASSWORD, role="admin")
    code, team = await api.post("/api/teams", json={"name": "ops"})
    assert code == 201, team
    code, project = await api.post("/api/projects", json={"name": "ops-proj", "team_id": team["id"]})
    assert code == 201, project
    app = await deployed(api, project_id=project["id"])
    await member_token(api, "vera", team["id"], "viewer", scopes=("read",))
    header = f"/apps/{app['id']}/partials/header"

    running = await _page_as(api, "olga", header)
    assert f'data-action="POST /api/apps/{app["id"]}/stop"' in running
    assert 'data-confirm="Stop web?' in running  # stopping asks first
    assert f'data-action="POST /api/apps/{app["id"]}/restart"' in running
    assert "/start" not in running and "app-stopped-note" not in running
    assert "/rollback" in running  # Redeploy: a fresh container of the same image
    assert ">Terminal</a>" in running

    assert (await api.post(f"/api/apps/{app['id']}/stop"))[0] == 200
    stopped = await _page_as(api, "olga", header)
    assert f'data-action="POST /api/apps/{app["id"]}/start"' in stopped
    assert "/stop" not in stopped and "/restart" not in stopped
    assert "app-stopped-note" in stopped and "503" in stopped
    assert ">Terminal</a>" not in stopped  # nothing runs to open a shell in

    viewer = await _page_as(api, "vera", header)
    assert "app-stopped-note" in viewer
    assert not any(f"/api/apps/{app['id']}/{a}" in viewer for a in ("start", "stop", "restart"))


async def test_another_teams_app_is_not_found(api: ApiClient) -> None:
    code, mine = await api.post("/api/teams", json={"name": "mine"})
    assert code == 201, mine
    code, theirs = await api.post("/api/teams", json={"name": "theirs"})
    assert code == 201, theirs
    code, project = await api.post("/api/projects", json={"name": "their-proj", "team_id": theirs["id"]})
    assert code == 201, project
    app = await deployed(api, project_id=project["id"])
    outsider = await member_token(api, "otto", mine["id"], "owner")
    for action in ("stop", "restart", "start"):
        code, err = await api.post(f"/api/apps/{app['id']}/{action}", **bearer(outsider))
        assert code == 404 and err["error"]["code"] == "not_found", (action, err)
    assert (await show(api, app["id"]))["status"] == "running"
