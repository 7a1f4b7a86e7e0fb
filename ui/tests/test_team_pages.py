"""Team isolation on the dashboard (in-process, no browser): a member of one team, signed in through the login
form, sees only that team's projects, apps and deployments on the overview, the lists and the pages, and another
team's app or project page is a 404 (rivetr_core.authz.visibility, activated by the dashboard's guard)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rivetr_core.app import create_app
from tests.support.server import ApiClient, make_config

PASSWORD = "a-long-password-1"


def _csrf(body: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', body) or re.search(
        r'name="csrf-token" content="([^"]+)"', body
    )
    assert match, "page has no CSRF token"
    return match.group(1)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    app = create_app(make_config(tmp_path / "data"))
    async with app.test_app():
        api = ApiClient(app)
        ids: dict[str, Any] = {"api": api}
        for name in ("alpha", "beta"):
            status, team = await api.post("/api/teams", json={"name": name})
            assert status == 201, team
            status, project = await api.post(
                "/api/projects", json={"name": f"{name}-proj", "team_id": team["id"]}
            )
            assert status == 201, project
            status, created = await api.post(
                "/api/apps",
                json={
                    "name": f"{name}-app",
                    "source": {"kind": "image", "image": "nginx:1"},
                    "project_id": project["id"],
                },
            )
            assert status == 201, created
            ids[name] = {"team": team["id"], "project": project["id"], "app": created["id"]}
        await api.ctx.services.accounts.create_user("bob", PASSWORD, role="member")
        status, body = await api.post(
            f"/api/teams/{ids['beta']['team']}/members", json={"username": "bob", "role": "developer"}
        )
        assert status == 201, body
        client = app.test_client()
        login = await (await client.get("/login")).get_data(as_text=True)
        response = await client.post(
            "/login", form={"username": "bob", "password": PASSWORD, "csrf_token": _csrf(login)}
        )
        assert response.status_code == 302, await response.get_data(as_text=True)
        ids["bob"] = client
        yield ids


async def _page(client: Any, path: str) -> tuple[int, str]:
    response = await client.get(path)
    return response.status_code, await response.get_data(as_text=True)


async def test_a_member_sees_only_the_teams_resources_on_the_dashboard(world: dict[str, Any]) -> None:
    bob, alpha, beta = world["bob"], world["alpha"], world["beta"]
    for path in ("/", "/apps", "/projects"):
        status, body = await _page(bob, path)
        assert status == 200, (path, body[:300])
        assert "alpha-app" not in body and "alpha-proj" not in body, path
    assert "beta-app" in (await _page(bob, "/apps"))[1]
    assert "beta-proj" in (await _page(bob, "/projects"))[1]
    assert (await _page(bob, f"/apps/{beta['app']}"))[0] == 200
    assert (await _page(bob, f"/apps/{alpha['app']}"))[0] == 404
    assert (await _page(bob, f"/projects/{alpha['project']}"))[0] == 404
    assert (await _page(bob, f"/projects/{beta['project']}"))[0] == 200


async def test_the_server_owner_still_sees_every_team(world: dict[str, Any]) -> None:
    api: ApiClient = world["api"]
    await api.ctx.services.accounts.create_user("olga", PASSWORD, role="admin")  # a server admin
    client = api.app.test_client()
    login = await (await client.get("/login")).get_data(as_text=True)
    await client.post("/login", form={"username": "olga", "password": PASSWORD, "csrf_token": _csrf(login)})
    body = (await _page(client, "/apps"))[1]
    assert "alpha-app" in body and "beta-app" in body
