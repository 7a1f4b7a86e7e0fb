"""Team isolation (rivetr_core.authz.visibility) through the real app: two teams with resources of every kind,
each team's credential sees only its own (another team's resource is a 404 with the usual body, never a 403),
lists are filtered, an app-restricted token sees only its app, the admin token sees everything, a project goes
to the acting team, and a deploy started by a team member runs in the background without the request's
restriction.

The team credentials are real: users with a team role, logged in through the API, and the API tokens they make
(``tests.support.team_members``), so every request carries the Principal the server itself resolves (acting team,
visible teams, an app restriction).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rivetr_core.authz import visibility
from rivetr_core.testing import FakeRuntime
from tests.support.server import ApiClient, api_on, make_config
from tests.support.services import stored_service
from tests.support.team_members import member_token

IMAGE = "registry.example.com/team/api:1"
COMPOSE = "services:\n  web:\n    image: docker.io/library/nginx:1\n"


class Teams:
    """Two teams' resources, made by the admin token, and a bearer token per test credential."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api
        self.tokens: dict[str, str] = {}  # a test's name for a credential → the real bearer token
        self.ids: dict[str, dict[str, str]] = {}

    def as_(self, name: str) -> dict[str, Any]:
        return {"headers": {"Authorization": f"Bearer {self.tokens[name]}"}, "auth": False}

    async def get(self, token: str, path: str) -> tuple[int, Any]:
        return await self.api.get(path, **self.as_(token))

    async def call(self, token: str, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        return await self.api.request(method, path, **self.as_(token), **kw)


async def _ok(result: Any, status: int = 201) -> Any:
    code, body = await result
    assert code == status, body
    return body


async def _image_app(api: ApiClient, name: str, project_id: str, **fields: Any) -> Any:
    """A new app of image ``IMAGE`` in the project (made by ``api``'s credential)."""
    return await _ok(
        api.post(
            "/api/apps",
            json={
                "name": name,
                "source": {"kind": "image", "image": IMAGE},
                **fields,
                "project_id": project_id,
            },
        )
    )


async def _make_team(api: ApiClient, name: str, fake: FakeRuntime) -> dict[str, str]:
    """A team with a project holding an app (env var, volume, a running deployment, a backup, a backup
    schedule), a managed service and a stack."""
    from rivetr_core.models.backups import Backup

    team = await _ok(api.post("/api/teams", json={"name": name}))
    project = await _ok(api.post("/api/projects", json={"name": f"{name}-proj", "team_id": team["id"]}))
    app = await _image_app(api, f"{name}-app", project["id"], port=8080)
    await _ok(api.post(f"/api/apps/{app['id']}/env-vars", json={"key": "GREETING", "value": name}))
    volume = await _ok(
        api.post(f"/api/apps/{app['id']}/volumes", json={"name": "data", "mount_path": "/data"})
    )
    deployment = await _deploy(api, app["id"])
    stack = await _ok(
        api.post(
            "/api/stacks", json={"name": f"{name}-stack", "compose": COMPOSE, "project_id": project["id"]}
        )
    )
    service = await stored_service(api.ctx, f"{name}-db", project_id=project["id"])
    async with api.ctx.db.session() as session:
        backup = Backup(app_id=app["id"], app_name=app["name"], destination_id=_DEST, status="succeeded")
        session.add(backup)
        await session.commit()
    schedule = await _ok(
        api.post(
            "/api/backup-schedules",
            json={"app_id": app["id"], "destination_id": _DEST, "cron": "0 3 * * *", "keep_last": 3},
        )
    )
    return {
        "team": team["id"],
        "project": project["id"],
        "app": app["id"],
        "volume": volume["id"],
        "deployment": deployment["id"],
        "stack": stack["id"],
        "service": service.id,
        "backup": backup.id,
        "schedule": schedule["id"],
    }


_DEST = "dest0"


async def _deploy(api: ApiClient, app_id: str, **auth: Any) -> dict[str, Any]:
    code, dep = await api.post(f"/api/apps/{app_id}/deploy", json={}, **auth)
    assert code == 202, dep
    async with asyncio.timeout(15):
        while True:
            code, dep = await api.get(f"/api/deployments/{dep['id']}")
            if dep["status"] in ("running", "failed", "cancelled"):
                return dep  # type: ignore[no-any-return]
            await asyncio.sleep(0.02)


@pytest.fixture
async def teams(tmp_path: Path, fake_runtime: FakeRuntime) -> AsyncIterator[Teams]:
    from rivetr_core.models.backups import BackupDestination

    fake_runtime.publish(IMAGE, body="hello")
    async with api_on(fake_runtime, make_config(tmp_path / "data")) as api:
        async with api.ctx.db.session() as session:
            session.add(
                BackupDestination(id=_DEST, name="local", kind="local", config={"path": str(tmp_path)})
            )
            await session.commit()
        world = Teams(api)
        world.ids["a"] = await _make_team(api, "alpha", fake_runtime)
        world.ids["b"] = await _make_team(api, "beta", fake_runtime)
        a, b = world.ids["a"], world.ids["b"]
        world.tokens = {
            "tok-a": await member_token(api, "alice", a["team"], "owner"),
            "tok-b": await member_token(api, "bob", b["team"], "owner"),
            # alice's CI: a token restricted to one app (made by its own user, an owner of team a too)
            "tok-app": await member_token(api, "alice-ci", a["team"], "owner", app_ids=[a["app"]]),
        }
        yield world


def _ids(body: Any) -> set[str]:
    return {item["id"] for item in body["items"]}


def _resource_paths(r: dict[str, str]) -> dict[str, str]:
    return {
        "project": f"/api/projects/{r['project']}",
        "app": f"/api/apps/{r['app']}",
        "env var": f"/api/apps/{r['app']}/env-vars/GREETING",
        "volume": f"/api/apps/{r['app']}/volumes/{r['volume']}",
        "deployment": f"/api/deployments/{r['deployment']}",
        "deployment logs": f"/api/deployments/{r['deployment']}/logs",
        "stack": f"/api/stacks/{r['stack']}",
        "service": f"/api/services/{r['service']}",
        "backup": f"/api/backups/{r['backup']}",
        "backup schedule": f"/api/backup-schedules/{r['schedule']}",
        "project network": f"/api/projects/{r['project']}/network",
        "app deployments": f"/api/apps/{r['app']}/deployments",
        "app env vars": f"/api/apps/{r['app']}/env-vars",
        "app volumes": f"/api/apps/{r['app']}/volumes",
        "app backups": f"/api/apps/{r['app']}/backups",
        "stack deployments": f"/api/stacks/{r['stack']}/deployments",
    }


async def test_another_teams_resources_are_not_found_and_own_ones_are(teams: Teams) -> None:
    a, b = teams.ids["a"], teams.ids["b"]
    for kind, path in _resource_paths(b).items():
        code, body = await teams.get("tok-a", path)
        assert code == 404, (kind, code, body)
        assert body["error"]["code"] == "not_found", (kind, body)
    for kind, path in _resource_paths(a).items():
        code, body = await teams.get("tok-a", path)
        assert code == 200, (kind, code, body)
    # The answer is the one a missing resource gets: the other team's resource is indistinguishable.
    missing = await teams.get("tok-a", "/api/apps/0123456789abcdef0123456789abcdef")
    other = await teams.get("tok-a", f"/api/apps/{b['app']}")
    assert (
        (missing[0], missing[1]["error"]["code"])
        == (other[0], other[1]["error"]["code"])
        == (404, "not_found")
    )


async def test_changing_deleting_and_operating_another_teams_resources_is_not_found(
    teams: Teams, fake_runtime: FakeRuntime
) -> None:
    b = teams.ids["b"]
    attempts: list[tuple[str, str, dict[str, Any]]] = [
        ("PUT", f"/api/apps/{b['app']}", {"json": {"port": 9000}}),
        ("POST", f"/api/apps/{b['app']}/deploy", {"json": {}}),
        ("DELETE", f"/api/apps/{b['app']}", {}),
        ("PUT", f"/api/apps/{b['app']}/env-vars/GREETING", {"json": {"value": "pwned"}}),
        ("DELETE", f"/api/apps/{b['app']}/env-vars/GREETING", {}),
        ("POST", f"/api/apps/{b['app']}/env-vars", {"json": {"key": "EVIL", "value": "1"}}),
        ("PUT", f"/api/apps/{b['app']}/volumes/{b['volume']}", {"json": {"mount_path": "/elsewhere"}}),
        ("DELETE", f"/api/apps/{b['app']}/volumes/{b['volume']}", {}),
        ("POST", f"/api/deployments/{b['deployment']}/rollback", {}),
        ("POST", f"/api/deployments/{b['deployment']}/cancel", {}),
        ("PUT", f"/api/projects/{b['project']}", {"json": {"description": "pwned"}}),
        ("DELETE", f"/api/projects/{b['project']}", {}),
        ("PUT", f"/api/stacks/{b['stack']}", {"json": {"compose": COMPOSE}}),
        ("POST", f"/api/stacks/{b['stack']}/deploy", {}),
        ("DELETE", f"/api/stacks/{b['stack']}", {}),
        ("POST", f"/api/services/{b['service']}/start", {}),
        ("DELETE", f"/api/services/{b['service']}", {}),
        ("DELETE", f"/api/backups/{b['backup']}", {}),
        ("POST", f"/api/backups/{b['backup']}/restore", {"json": {}}),
        ("DELETE", f"/api/backup-schedules/{b['schedule']}", {}),
        ("POST", f"/api/apps/{b['app']}/backups", {"json": {"destination_id": _DEST}}),
    ]
    for method, path, kw in attempts:
        code, body = await teams.call("tok-a", method, path, **kw)
        assert code == 404, (method, path, code, body)
    # Nothing of team B changed: its app, env var, volume, project and stack are intact (seen by B and admin).
    code, app = await teams.get("tok-b", f"/api/apps/{b['app']}")
    assert code == 200 and app["port"] == 8080
    code, env = await teams.api.get(f"/api/apps/{b['app']}/env-vars/GREETING?reveal=true")
    assert code == 200 and env["value"] == "beta", env
    assert (await teams.get("tok-b", f"/api/apps/{b['app']}/volumes/{b['volume']}"))[1][
        "mount_path"
    ] == "/data"
    assert (await teams.get("tok-b", f"/api/projects/{b['project']}"))[1]["description"] == ""
    assert (await teams.get("tok-b", f"/api/stacks/{b['stack']}"))[0] == 200
    assert (await teams.get("tok-b", f"/api/backups/{b['backup']}"))[0] == 200


async def test_lists_hold_only_the_teams_own_resources(teams: Teams) -> None:
    a, b = teams.ids["a"], teams.ids["b"]
    for token, own in (("tok-a", a), ("tok-b", b)):
        for path, key in (
            ("/api/projects", "project"),
            ("/api/apps", "app"),
            ("/api/stacks", "stack"),
            ("/api/services", "service"),
            ("/api/backups", "backup"),
            ("/api/backup-schedules", "schedule"),
        ):
            code, body = await teams.get(token, path)
            assert code == 200, (path, body)
            assert _ids(body) == {own[key]}, (token, path, body)
        code, body = await teams.get(token, "/api/schedules")
        assert code == 200 and [j["name"] for j in body["items"]] == [f"backup-schedule:{own['schedule']}"], (
            body
        )
    # The admin token (a server owner) sees both teams' resources, and the server's own jobs.
    for path, key in (("/api/projects", "project"), ("/api/apps", "app"), ("/api/stacks", "stack")):
        assert {a[key], b[key]} <= _ids((await teams.api.get(path))[1]), path
    names = {j["name"] for j in (await teams.api.get("/api/schedules"))[1]["items"]}
    assert {f"backup-schedule:{a['schedule']}", f"backup-schedule:{b['schedule']}"} <= names
    assert len(names) > 2  # the state backup job belongs to no team: only the server's owners see it


async def test_creating_in_another_teams_project_is_not_found(teams: Teams) -> None:
    b = teams.ids["b"]
    app = {
        "name": "intruder",
        "source": {"kind": "image", "image": IMAGE},
        "port": 80,
        "project_id": b["project"],
    }
    code, body = await teams.call("tok-a", "POST", "/api/apps", json=app)
    assert code == 404 and body["error"]["code"] == "not_found", body
    stack = {"name": "intruder", "compose": COMPOSE, "project_id": b["project"]}
    code, body = await teams.call("tok-a", "POST", "/api/stacks", json=stack)
    assert code == 404, body
    code, body = await teams.call(
        "tok-a", "PUT", f"/api/apps/{teams.ids['a']['app']}", json={"project_id": b["project"]}
    )
    assert code == 404, body
    assert "intruder" not in {a["name"] for a in (await teams.api.get("/api/apps"))[1]["items"]}


async def test_a_new_project_goes_to_the_acting_team_and_an_unseen_team_is_not_found(teams: Teams) -> None:
    a, b = teams.ids["a"], teams.ids["b"]
    created = await _ok(teams.call("tok-a", "POST", "/api/projects", json={"name": "alpha-two"}))
    assert created["team_id"] == a["team"]
    code, body = await teams.call(
        "tok-a", "POST", "/api/projects", json={"name": "sneaky", "team_id": b["team"]}
    )
    assert code == 404 and body["error"]["code"] == "not_found", body
    code, body = await teams.call(
        "tok-a", "PUT", f"/api/projects/{created['id']}", json={"team_id": b["team"]}
    )
    assert code == 404, body
    # Without an acting team (the admin token), a project still goes to the default team.
    assert (await _ok(teams.api.post("/api/projects", json={"name": "plain"})))["team_id"] == "default"


async def test_an_app_restricted_token_sees_only_its_app(teams: Teams) -> None:
    a = teams.ids["a"]
    other = await _image_app(teams.api, "alpha-other", a["project"])
    code, body = await teams.get("tok-app", "/api/apps")
    assert code == 200 and _ids(body) == {a["app"]}, body
    assert (await teams.get("tok-app", f"/api/apps/{a['app']}"))[0] == 200
    assert (await teams.get("tok-app", f"/api/apps/{other['id']}"))[0] == 404
    assert (await teams.call("tok-app", "POST", f"/api/apps/{other['id']}/deploy", json={}))[0] == 404
    # Services and stacks are not its apps; its project shows, holding the app.
    assert _ids((await teams.get("tok-app", "/api/services"))[1]) == set()
    assert _ids((await teams.get("tok-app", "/api/stacks"))[1]) == set()
    assert (await teams.get("tok-app", f"/api/stacks/{a['stack']}"))[0] == 404
    assert _ids((await teams.get("tok-app", "/api/projects"))[1]) == {a["project"]}
    # The same team's member without the restriction sees both apps.
    assert {a["app"], other["id"]} <= _ids((await teams.get("tok-a", "/api/apps"))[1])


async def test_the_server_owner_sees_every_team(teams: Teams) -> None:
    for r in teams.ids.values():
        for kind, path in _resource_paths(r).items():
            code, body = await teams.api.get(path)
            assert code == 200, (kind, body)


async def test_a_team_members_deploy_runs_in_the_background_without_the_restriction(
    teams: Teams, fake_runtime: FakeRuntime
) -> None:
    """The deploy request runs under team A's restriction; the pipeline it starts must not (it reads
    server-level rows, and its task would otherwise inherit the request's context)."""
    seen: list[Any] = []
    run = fake_runtime.run

    async def recording_run(spec: Any) -> Any:
        seen.append(visibility.current())
        return await run(spec)

    fake_runtime.run = recording_run  # type: ignore[method-assign]
    dep = await _deploy(teams.api, teams.ids["a"]["app"], **teams.as_("tok-a"))
    assert dep["status"] == "running", dep
    assert seen and all(v is None for v in seen), seen
    # The request itself was restricted: the same credential cannot deploy team B's app.
    assert (await teams.call("tok-a", "POST", f"/api/apps/{teams.ids['b']['app']}/deploy", json={}))[0] == 404


async def test_websockets_of_another_team_are_refused_and_own_accepted(teams: Teams) -> None:
    from tests.support.server import websocket_outcome

    a, b = teams.ids["a"], teams.ids["b"]

    async def outcome(path: str) -> str:
        return await websocket_outcome(teams.api.client, path, headers=teams.as_("tok-a")["headers"])

    assert await outcome(f"/api/deployments/{a['deployment']}/logs/stream") == "accepted"
    assert await outcome(f"/api/apps/{a['app']}/logs/stream") == "accepted"
    for path in (
        f"/api/deployments/{b['deployment']}/logs/stream",
        f"/api/apps/{b['app']}/logs/stream",
        f"/api/services/{b['service']}/logs/stream",
        f"/api/stacks/{b['stack']}/services/web/logs/stream",
    ):
        found = await outcome(path)
        assert found != "accepted" and found.endswith("404"), (path, found)


async def test_webhook_events_show_only_those_of_the_teams_apps(teams: Teams) -> None:
    from rivetr_core.models.git import WebhookDelivery

    a, b = teams.ids["a"], teams.ids["b"]
    async with teams.api.ctx.db.session() as session:
        session.add_all(
            [
                WebhookDelivery(
                    provider="github", outcome="deployed", app_ids=[a["app"]], repository="acme/a"
                ),
                WebhookDelivery(
                    provider="github", outcome="deployed", app_ids=[b["app"]], repository="acme/b"
                ),
                WebhookDelivery(provider="github", outcome="rejected", repository="acme/unsigned"),
            ]
        )
        await session.commit()
    seen = {e["repository"] for e in (await teams.get("tok-a", "/api/webhook-events"))[1]["items"]}
    assert seen == {"acme/a"}
    everything = {e["repository"] for e in (await teams.api.get("/api/webhook-events"))[1]["items"]}
    assert everything == {"acme/a", "acme/b", "acme/unsigned"}


async def test_the_restriction_lives_only_in_the_request(teams: Teams) -> None:
    assert (await teams.get("tok-a", "/api/apps"))[0] == 200
    assert visibility.current() is None  # the test's own task never saw the request's restriction
    # The next request on the same client, as the admin token, sees everything again.
    assert {teams.ids["a"]["app"], teams.ids["b"]["app"]} <= _ids((await teams.api.get("/api/apps"))[1])


async def test_primary_key_loads_identity_map_hits_and_bulk_writes_are_covered(teams: Teams) -> None:
    """The ORM paths a service may take besides a SELECT: ``session.get`` (a primary-key load, and an identity
    map hit that answers without SQL) and ORM UPDATE/DELETE statements."""
    import sqlalchemy as sa

    from rivetr_core.models.apps import App, EnvVar

    a, b = teams.ids["a"], teams.ids["b"]
    alpha = visibility.Visibility(team_ids=frozenset({a["team"]}), team_id=a["team"])
    db = teams.api.ctx.db
    with visibility.restricted_to(alpha):
        async with db.session() as session:
            assert await session.get(App, b["app"]) is None
            assert (await session.get(App, a["app"])) is not None
    async with db.session() as session:
        loaded = await session.get(App, b["app"])  # in the identity map, loaded without restriction
        assert loaded is not None
        with visibility.restricted_to(alpha):
            assert await session.get(App, b["app"]) is None
        assert await session.get(App, b["app"]) is loaded
    with visibility.restricted_to(alpha):
        async with db.session() as session:
            changed = await session.exec(sa.update(App).where(App.id == b["app"]).values(port=1))  # type: ignore[call-overload]
            removed = await session.exec(sa.delete(EnvVar).where(EnvVar.app_id == b["app"]))  # type: ignore[call-overload]
            await session.commit()
            assert (changed.rowcount, removed.rowcount) == (0, 0)
    code, app = await teams.api.get(f"/api/apps/{b['app']}")
    assert code == 200 and app["port"] == 8080
    assert [e["key"] for e in (await teams.api.get(f"/api/apps/{b['app']}/env-vars"))[1]["items"]] == [
        "GREETING"
    ]


async def test_other_roles_and_scopes_are_isolated_the_same_way(teams: Teams) -> None:
    """A developer's token and an admin's deploy-scoped CI token restricted to one app (the module's other tokens
    are owners' with the admin scope)."""
    from tests.support.team_members import bearer

    a, b = teams.ids["a"], teams.ids["b"]
    api = teams.api
    alice = await member_token(api, "dora", a["team"], "developer")
    ci = await member_token(api, "carol", a["team"], "admin", scopes=("deploy",), app_ids=[a["app"]])
    assert (await api.get(f"/api/apps/{a['app']}", **bearer(alice)))[0] == 200
    for path in _resource_paths(b).values():
        assert (await api.get(path, **bearer(alice)))[0] == 404, path
    assert _ids((await api.get("/api/apps", **bearer(alice)))[1]) == {a["app"]}
    assert _ids((await api.get("/api/projects", **bearer(alice)))[1]) == {a["project"]}
    assert (await api.post(f"/api/apps/{b['app']}/deploy", json={}, **bearer(ci)))[0] == 404
    assert (await api.get(f"/api/stacks/{a['stack']}", **bearer(ci)))[0] == 404
    assert _ids((await api.get("/api/apps", **bearer(ci)))[1]) == {a["app"]}


async def test_a_member_sees_only_their_own_team(teams: Teams) -> None:
    a, b = teams.ids["a"], teams.ids["b"]
    code, listed = await teams.get("tok-a", "/api/teams")
    assert code == 200 and _ids(listed) == {a["team"]}, listed
    assert (await teams.get("tok-a", f"/api/teams/{a['team']}"))[0] == 200
    for path in (f"/api/teams/{b['team']}", f"/api/teams/{b['team']}/members", "/api/teams/default"):
        code, body = await teams.get("tok-a", path)
        assert code == 404 and body["error"]["code"] == "not_found", (path, body)
    code, body = await teams.call(
        "tok-a", "POST", f"/api/teams/{b['team']}/members", json={"username": "x", "role": "viewer"}
    )
    assert code == 404, body
    assert {a["team"], b["team"], "default"} <= _ids((await teams.api.get("/api/teams"))[1])


async def test_acting_in_a_team_an_app_service_or_stack_needs_one_of_its_projects(teams: Teams) -> None:
    """Without a project a resource is the default team's: a member of another team would lose it at once."""
    a = teams.ids["a"]
    app = {"name": "orphan", "source": {"kind": "image", "image": IMAGE}, "port": 80}
    code, body = await teams.call("tok-a", "POST", "/api/apps", json=app)
    assert code == 422 and body["error"]["details"][0]["field"] == "project_id", body
    code, body = await teams.call("tok-a", "POST", "/api/stacks", json={"name": "orphan", "compose": COMPOSE})
    assert code == 422 and body["error"]["details"][0]["field"] == "project_id", body
    code, body = await teams.call("tok-a", "PUT", f"/api/apps/{a['app']}", json={"project_id": None})
    assert code == 422 and body["error"]["details"][0]["field"] == "project_id", body
    assert "orphan" not in {x["name"] for x in (await teams.api.get("/api/apps"))[1]["items"]}
    assert (await teams.get("tok-a", f"/api/apps/{a['app']}"))[1]["project_id"] == a["project"]
    # In one of its projects it works; and the server's owner may still make one without a project.
    assert (await teams.call("tok-a", "POST", "/api/apps", json={**app, "project_id": a["project"]}))[
        0
    ] == 201
    assert (await teams.api.post("/api/apps", json={**app, "name": "plain"}))[0] == 201


async def test_a_project_restricted_token_sees_only_that_projects_resources(teams: Teams) -> None:
    a = teams.ids["a"]
    other = await _ok(teams.api.post("/api/projects", json={"name": "alpha-side", "team_id": a["team"]}))
    side_app = await _image_app(teams.api, "alpha-side-app", other["id"])
    teams.tokens["tok-proj"] = await member_token(
        teams.api, "alice-side", a["team"], "owner", project_ids=[other["id"]]
    )
    assert _ids((await teams.get("tok-proj", "/api/projects"))[1]) == {other["id"]}
    assert _ids((await teams.get("tok-proj", "/api/apps"))[1]) == {side_app["id"]}
    assert _ids((await teams.get("tok-proj", "/api/stacks"))[1]) == set()  # the stack is in the main project
    for path in (f"/api/apps/{a['app']}", f"/api/projects/{a['project']}", f"/api/stacks/{a['stack']}"):
        assert (await teams.get("tok-proj", path))[0] == 404, path
    # Team-level listings of the main project's resources are out of its view as well.
    assert _ids((await teams.get("tok-proj", "/api/backups"))[1]) == set()
