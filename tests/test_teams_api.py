"""``/api/teams`` and its members through the real app (Quart test client, a real SQLite database migrated to
head): names unique and DNS-safe, the last owner protected, a team owning projects not deletable, projects
created in and moved between teams, JSON errors naming the field, audit entries for every change."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import ApiClient, make_config

PASSWORD = "a-long-password-1"


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[ApiClient]:
    from rivetr_core.app import create_app

    app = create_app(make_config(tmp_path / "data"))
    async with app.test_app():
        yield ApiClient(app)


async def _user(api: ApiClient, name: str) -> Any:
    return await api.ctx.services.accounts.create_user(name, PASSWORD)


def _field(body: Any) -> str | None:
    details = body["error"]["details"]
    return details[0]["field"] if isinstance(details, list) and details else None


async def test_teams_crud_with_unique_dns_safe_names(api: ApiClient) -> None:
    status, listed = await api.get("/api/teams")
    assert status == 200 and listed["next"] is None
    assert [(t["id"], t["name"], t["default"]) for t in listed["items"]] == [("default", "default", True)]

    status, team = await api.post("/api/teams", json={"name": "platform"})
    assert status == 201, team
    assert (
        team["name"],
        team["require_2fa"],
        team["default"],
        team["member_count"],
        team["project_ids"],
    ) == (
        "platform",
        False,
        False,
        0,  # the admin token is no user: nobody to make owner
        [],
    )
    status, taken = await api.post("/api/teams", json={"name": "platform"})
    assert status == 409 and taken["error"]["code"] == "conflict" and _field(taken) == "name"
    status, bad = await api.post("/api/teams", json={"name": "Not DNS"})
    assert status == 422 and "name" in str(bad["error"]["details"])
    status, extra = await api.post("/api/teams", json={"name": "x", "owner": "me"})
    assert status == 422, extra

    status, renamed = await api.put(f"/api/teams/{team['id']}", json={"name": "infra", "require_2fa": True})
    assert status == 200 and (renamed["name"], renamed["require_2fa"]) == ("infra", True)
    status, clash = await api.put(f"/api/teams/{team['id']}", json={"name": "default"})
    assert status == 409 and _field(clash) == "name"
    assert (await api.get(f"/api/teams/{team['id']}"))[1]["name"] == "infra"

    status, missing = await api.get("/api/teams/nope")
    assert status == 404 and missing["error"]["code"] == "not_found"

    page1 = (await api.get("/api/teams?limit=1"))[1]
    page2 = (await api.get(f"/api/teams?limit=1&cursor={page1['next']}"))[1]
    assert [t["name"] for t in page1["items"] + page2["items"]] == ["default", "infra"]
    assert page2["next"] is None

    assert (await api.delete(f"/api/teams/{team['id']}"))[0] == 204
    assert (await api.get(f"/api/teams/{team['id']}"))[0] == 404
    status, default = await api.delete("/api/teams/default")
    assert status == 409 and default["error"]["code"] == "default_team"

    _, audit = await api.get("/api/audit?action=teams_api.")
    assert [(e["action"], e["status"]) for e in audit["items"]][-1] == ("teams_api.create_team", 201)
    assert ("teams_api.delete_team", 204) in [(e["action"], e["status"]) for e in audit["items"]]


async def test_members_roles_and_the_last_owner(api: ApiClient) -> None:
    alice, bob = await _user(api, "alice"), await _user(api, "bob")
    _, team = await api.post("/api/teams", json={"name": "shop"})
    members = f"/api/teams/{team['id']}/members"

    status, added = await api.post(members, json={"username": "alice", "role": "owner"})
    assert status == 201, added
    assert (added["user_id"], added["username"], added["role"]) == (alice.id, "alice", "owner")
    status, again = await api.post(members, json={"user_id": alice.id, "role": "viewer"})
    assert status == 409 and _field(again) == "user_id"
    status, ghost = await api.post(members, json={"username": "ghost", "role": "viewer"})
    assert status == 404 and _field(ghost) == "username"
    status, bad_role = await api.post(members, json={"user_id": bob.id, "role": "god"})
    assert status == 422 and _field(bad_role) == "role"
    status, both = await api.post(members, json={"user_id": bob.id, "username": "bob", "role": "viewer"})
    assert status == 422, both
    status, _ = await api.post("/api/teams/nope/members", json={"username": "bob", "role": "viewer"})
    assert status == 404

    status, last = await api.put(f"{members}/alice", json={"role": "admin"})
    assert status == 409 and last["error"]["code"] == "last_owner"
    status, last = await api.delete(f"{members}/{alice.id}")
    assert status == 409 and last["error"]["code"] == "last_owner"
    assert (await api.get(f"{members}/alice"))[1]["role"] == "owner"  # the refused change left nothing behind

    assert (await api.post(members, json={"user_id": bob.id, "role": "developer"}))[0] == 201
    status, listed = await api.get(members)
    assert status == 200 and [(m["username"], m["role"]) for m in listed["items"]] == [
        ("alice", "owner"),
        ("bob", "developer"),
    ]
    assert (await api.put(f"{members}/bob", json={"role": "owner"}))[1]["role"] == "owner"
    status, demoted = await api.put(f"{members}/alice", json={"role": "viewer"})  # bob still owns it
    assert status == 200 and demoted["role"] == "viewer"
    assert (await api.delete(f"{members}/alice"))[0] == 204
    status, gone = await api.get(f"{members}/alice")
    assert status == 404 and gone["error"]["code"] == "not_found"
    assert (await api.get(f"/api/teams/{team['id']}"))[1]["member_count"] == 1
    listed_teams = (await api.get("/api/teams"))[1]["items"]
    assert {t["name"]: t["member_count"] for t in listed_teams} == {"default": 0, "shop": 1}


async def test_a_team_without_owner_still_changes_its_members_roles(api: ApiClient) -> None:
    """The admin token belongs to no user, so a team it makes starts without an owner: changing a member's role
    (no owner demoted) must work there, and only demoting the one owner it then gets is refused."""
    await _user(api, "carol")
    _, team = await api.post("/api/teams", json={"name": "ownerless"})
    members = f"/api/teams/{team['id']}/members"
    assert (await api.post(members, json={"username": "carol", "role": "developer"}))[0] == 201
    status, changed = await api.put(f"{members}/carol", json={"role": "viewer"})
    assert status == 200 and changed["role"] == "viewer", changed
    assert (await api.put(f"{members}/carol", json={"role": "owner"}))[0] == 200
    status, last = await api.put(f"{members}/carol", json={"role": "admin"})
    assert status == 409 and last["error"]["code"] == "last_owner"


async def test_a_user_creating_a_team_becomes_its_owner(api: ApiClient) -> None:
    carol = await _user(api, "carol")
    _token, raw = await api.ctx.services.accounts.create_token("cli", user=carol, created_by="user:carol")
    status, team = await api.post(
        "/api/teams", auth=False, headers={"Authorization": f"Bearer {raw}"}, json={"name": "carols"}
    )
    assert status == 201, team
    _, members = await api.get(f"/api/teams/{team['id']}/members")
    assert [(m["username"], m["role"]) for m in members["items"]] == [("carol", "owner")]


async def test_projects_belong_to_teams(api: ApiClient) -> None:
    _, team = await api.post("/api/teams", json={"name": "ops"})
    status, plain = await api.post("/api/projects", json={"name": "plain"})
    assert status == 201 and plain["team_id"] == "default"
    status, owned = await api.post("/api/projects", json={"name": "owned", "team_id": team["id"]})
    assert status == 201 and owned["team_id"] == team["id"]
    status, orphan = await api.post("/api/projects", json={"name": "orphan", "team_id": "nope"})
    assert status == 404 and _field(orphan) == "team_id"
    assert (await api.get("/api/projects/orphan"))[0] == 404  # nothing stored

    assert (await api.get(f"/api/teams/{team['id']}"))[1]["project_ids"] == [owned["id"]]
    listed_teams = (await api.get("/api/teams"))[1]["items"]  # a page counts every team's own rows
    assert {t["name"]: t["project_ids"] for t in listed_teams} == {
        "default": [plain["id"]],
        "ops": [owned["id"]],
    }
    status, refused = await api.delete(f"/api/teams/{team['id']}")
    assert status == 409 and refused["error"]["code"] == "team_not_empty"
    assert refused["error"]["details"] == {"projects": ["owned"]} and "owned" in refused["error"]["message"]

    status, moved = await api.put(f"/api/projects/{owned['id']}", json={"team_id": "nope"})
    assert status == 404 and _field(moved) == "team_id"
    status, moved = await api.put(f"/api/projects/{owned['id']}", json={"team_id": "default"})
    assert status == 200 and moved["team_id"] == "default"
    listed = (await api.get("/api/projects"))[1]["items"]
    assert {p["name"]: p["team_id"] for p in listed} == {"plain": "default", "owned": "default"}
    assert (await api.delete(f"/api/teams/{team['id']}"))[0] == 204


async def test_each_teams_route_declares_the_permission_its_role_table_plans(api: ApiClient) -> None:
    """What the permission check will demand once roles are enforced (docs/teams.md): reading for viewers,
    members for owners and admins, deleting the team for owners, creating teams for the server's owners."""
    from rivetr_core.authz.enforce import ROUTE_PERMISSIONS

    permissions = api.app.extensions[ROUTE_PERMISSIONS]
    declared = {
        r.endpoint.removeprefix("teams_api."): permissions.permission(r.endpoint)
        for r in api.app.url_map.iter_rules()
        if r.endpoint.startswith("teams_api.")
    }
    assert declared == {
        "list_teams": "read",
        "get_team": "read",
        "create_team": "server",
        "update_team": "members",
        "delete_team": "team.delete",
        "list_members": "read",
        "get_member": "read",
        "add_member": "members",
        "set_member_role": "members",
        "remove_member": "members",
    }


async def test_two_owners_demoted_at_once_leave_one_owner(api: ApiClient) -> None:
    """Each demotion is written before the owners are counted, in one transaction: of two concurrent ones, the
    second counts after the first and is refused, whatever the interleaving."""
    import asyncio

    for name in ("dora", "eli"):
        await _user(api, name)
    for attempt in range(5):
        _, team = await api.post("/api/teams", json={"name": f"race-{attempt}"})
        members = f"/api/teams/{team['id']}/members"
        for name in ("dora", "eli"):
            assert (await api.post(members, json={"username": name, "role": "owner"}))[0] == 201
        answers = await asyncio.gather(
            api.put(f"{members}/dora", json={"role": "viewer"}),
            api.put(f"{members}/eli", json={"role": "viewer"}),
        )
        assert sorted(status for status, _ in answers) == [200, 409], answers
        _, listed = await api.get(members)
        assert [m["role"] for m in listed["items"]].count("owner") == 1


def test_an_idle_server_never_loads_the_teams_feature() -> None:
    """The team service and tables load with the first teams request (the API's response models are light);
    projects keep working without them: creating one checks its team with SQL of its own."""
    from tests.support.lazy import modules_loaded

    feature = ["rivetr_core.services.teams", "rivetr_core.models.teams"]
    loaded = modules_loaded(
        feature, [("POST", "/api/projects", {"name": "early"}), ("GET", "/api/teams", None)]
    )
    assert loaded == {"idle": [], "POST /api/projects": [], "GET /api/teams": feature}, loaded
