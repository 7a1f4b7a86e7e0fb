"""The audit log per team (rivetr_core.audit.teams, the ``audit_log`` criterion of rivetr_core.authz.visibility),
with real credentials: each entry records the team its request acted in (a team member's token) or, for the
server's owner acting over every team, the team of the resource the URL names (looked up before the handler, so
a deletion is attributed too); a team's admin reads only their team's entries, whatever the filters; the
server's owner reads everything and filters with ``?team_id=``; a developer has no audit right."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import ApiClient, make_config
from tests.support.team_members import bearer, member_token

ROUTE = {"domain": "audit-teams.example.com", "upstreams": ["127.0.0.1:9"]}


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[ApiClient]:
    from rivetr_core.app import create_app

    app = create_app(make_config(tmp_path / "data"))
    async with app.test_app():
        yield ApiClient(app)


async def _created(result: Any) -> Any:
    status, body = await result
    assert status == 201, body
    return body


async def _team_with_app(api: ApiClient, name: str) -> dict[str, str]:
    team = await _created(api.post("/api/teams", json={"name": name}))
    project = await _created(api.post("/api/projects", json={"name": f"{name}-proj", "team_id": team["id"]}))
    app = await _created(
        api.post(
            "/api/apps",
            json={
                "name": f"{name}-app",
                "source": {"kind": "image", "image": "nginx:1"},
                "project_id": project["id"],
            },
        )
    )
    return {"team": team["id"], "project": project["id"], "app": app["id"]}


async def _entries(api: ApiClient, query: str = "", **auth: Any) -> list[dict[str, Any]]:
    status, body = await api.get(f"/api/audit{query}", **auth)
    assert status == 200, body
    return body["items"]  # type: ignore[no-any-return]


@pytest.fixture
async def world(api: ApiClient) -> dict[str, Any]:
    alpha = await _team_with_app(api, "alpha")
    beta = await _team_with_app(api, "beta")
    return {
        "alpha": alpha,
        "beta": beta,
        "alice": await member_token(api, "alice", alpha["team"], "admin"),
        "bob": await member_token(api, "bob", beta["team"], "admin"),
    }


async def test_each_entry_records_the_acting_team_or_the_team_of_the_resource(
    api: ApiClient, world: dict[str, Any]
) -> None:
    alpha, beta = world["alpha"], world["beta"]
    assert (await api.put(f"/api/apps/{alpha['app']}", json={"port": 8081}, **bearer(world["alice"])))[
        0
    ] == 200
    assert (await api.put(f"/api/apps/{beta['app']}", json={"port": 8082}, **bearer(world["bob"])))[0] == 200
    # Refused (another team's app is not found): still the team the request acted in, never the target's.
    assert (await api.put(f"/api/apps/{beta['app']}", json={"port": 1}, **bearer(world["alice"])))[0] == 404
    # The admin token acts over every team: the resource's team, looked up before the deletion removed it.
    assert (await api.put(f"/api/apps/{alpha['app']}", json={"port": 8083}))[0] == 200
    assert (await api.delete(f"/api/apps/{beta['app']}"))[0] == 204
    assert (await api.post("/api/routes", json=ROUTE))[0] == 201  # server-wide: no team

    entries = await _entries(api, "?action=apps_api.update_app")
    assert [(e["actor"], e["target"]["app_id"], e["status"], e["team_id"]) for e in entries] == [
        ("admin", alpha["app"], 200, alpha["team"]),
        ("token:alice/alice-token", beta["app"], 404, alpha["team"]),
        ("token:bob/bob-token", beta["app"], 200, beta["team"]),
        ("token:alice/alice-token", alpha["app"], 200, alpha["team"]),
    ]
    (deleted,) = await _entries(api, "?action=apps_api.delete_app")
    assert deleted["team_id"] == beta["team"]
    (route,) = await _entries(api, "?action=routes_api.create_route")
    assert route["team_id"] is None


async def test_a_team_admin_reads_only_their_teams_entries_and_the_owner_filters(
    api: ApiClient, world: dict[str, Any]
) -> None:
    alpha, beta = world["alpha"], world["beta"]
    await api.put(f"/api/apps/{alpha['app']}", json={"port": 8081}, **bearer(world["alice"]))
    await api.put(f"/api/apps/{beta['app']}", json={"port": 8082}, **bearer(world["bob"]))
    await api.post("/api/routes", json=ROUTE)

    everything = await _entries(api)
    assert {e["team_id"] for e in everything} >= {alpha["team"], beta["team"], None}

    for who, team in (("alice", alpha), ("bob", beta)):
        seen = await _entries(api, **bearer(world[who]))
        assert seen and {e["team_id"] for e in seen} == {team["team"]}, seen
        # The team's entries by anyone (the admin token's creation of its project and app included).
        assert {e["actor"] for e in seen} >= {"admin", f"token:{who}/{who}-token"}
        assert len(seen) == len([e for e in everything if e["team_id"] == team["team"]])
        # Filters narrow within the team, never widen it.
        other = beta if team is alpha else alpha
        assert await _entries(api, f"?team_id={other['team']}", **bearer(world[who])) == []
        assert await _entries(api, "?action=routes_api", **bearer(world[who])) == []

    only_beta = await _entries(api, f"?team_id={beta['team']}")
    assert only_beta and {e["team_id"] for e in only_beta} == {beta["team"]}
    assert len(only_beta) == len([e for e in everything if e["team_id"] == beta["team"]])


async def test_a_developer_has_no_audit_right(api: ApiClient, world: dict[str, Any]) -> None:
    dev = await member_token(api, "dora", world["alpha"]["team"], "developer")
    status, body = await api.get("/api/audit", **bearer(dev))
    assert status == 403 and body["error"]["code"] == "permission_denied", body
