"""The role matrix (issue 20, "a test matrix proves, for each role, a representative allowed and denied call on
every resource type"): real users with real memberships in one team (owner, admin, developer, viewer) and a
server admin in none, calling the real app with their dashboard sessions and, again, with ``admin``-scoped API
tokens of their own (a token's rights are its user's).

"Allowed" means the permission check let the call through to its handler, shown by the handler's own answer
(200, or a 404/409/422 about the request itself); "denied" is a 403 ``permission_denied`` naming the permission,
before the handler. Which team's resources a caller sees is tests/test_team_isolation.py; scopes and the acting
team are tests/test_tokens_scoped.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rivetr_core.testing import FakeRuntime
from tests.support.roles import Member, bearer, make_team, member
from tests.support.server import api_on, make_config, websocket_outcome

IMAGE = "registry.example.com/acme/web"
ROLES = ("owner", "admin", "developer", "viewer", "server")
TEAM_ROLES = ROLES[:4]

#: (resource, method, path, body, expected): ``expected`` maps each role to its status, or to the permission a
#: 403 names. ``{app}`` and ``{team}`` are filled in.
MATRIX: list[tuple[str, str, str, Any, dict[str, int | str]]] = [
    ("apps", "GET", "/api/apps/{app}", None, dict.fromkeys(ROLES, 200)),
    ("apps", "PUT", "/api/apps/{app}", {"port": 0}, {**dict.fromkeys(ROLES, 422), "viewer": "write"}),
    ("apps", "DELETE", "/api/apps/nope", None, {**dict.fromkeys(ROLES, 404), "viewer": "write"}),
    ("deployments", "GET", "/api/apps/{app}/deployments", None, dict.fromkeys(ROLES, 200)),
    (
        "deployments",
        "POST",
        "/api/apps/{app}/deploy",
        {"commt": "abc1234"},
        {**dict.fromkeys(ROLES, 422), "viewer": "deploy"},
    ),
    (
        "deployments",
        "POST",
        "/api/deployments/nope/rollback",
        None,
        {**dict.fromkeys(ROLES, 404), "viewer": "deploy"},
    ),
    ("env vars", "GET", "/api/apps/{app}/env-vars", None, dict.fromkeys(ROLES, 200)),
    (
        "env vars",
        "GET",
        "/api/apps/{app}/env-vars/API_KEY?reveal=true",
        None,
        {**dict.fromkeys(ROLES, 200), "developer": "secrets.reveal", "viewer": "secrets.reveal"},
    ),
    (
        "env vars",
        "POST",
        "/api/apps/{app}/env-vars",
        {"key": "", "value": "v"},
        {**dict.fromkeys(ROLES, 422), "viewer": "write"},
    ),
    ("services", "GET", "/api/services", None, dict.fromkeys(ROLES, 200)),
    ("services", "POST", "/api/services", {}, {**dict.fromkeys(ROLES, 422), "viewer": "write"}),
    (
        "services",
        "POST",
        "/api/services/nope/restart",
        None,
        {**dict.fromkeys(ROLES, 404), "viewer": "deploy"},
    ),
    ("stacks", "GET", "/api/stacks", None, dict.fromkeys(ROLES, 200)),
    ("stacks", "POST", "/api/stacks", {}, {**dict.fromkeys(ROLES, 422), "viewer": "write"}),
    ("volumes", "GET", "/api/apps/{app}/volumes", None, dict.fromkeys(ROLES, 200)),
    ("volumes", "POST", "/api/apps/{app}/volumes", {}, {**dict.fromkeys(ROLES, 422), "viewer": "write"}),
    ("backups", "GET", "/api/apps/{app}/backups", None, dict.fromkeys(ROLES, 200)),
    ("backups", "DELETE", "/api/backups/nope", None, {**dict.fromkeys(ROLES, 404), "viewer": "write"}),
    ("projects", "GET", "/api/projects", None, dict.fromkeys(ROLES, 200)),
    ("projects", "POST", "/api/projects", {}, {**dict.fromkeys(ROLES, 422), "viewer": "write"}),
    ("members", "GET", "/api/teams/{team}/members", None, dict.fromkeys(ROLES, 200)),
    (
        "members",
        "POST",
        "/api/teams/{team}/members",
        {"username": "ghost", "role": "viewer"},
        {**dict.fromkeys(ROLES, 404), "developer": "members", "viewer": "members"},
    ),
    (
        "teams",
        "DELETE",
        "/api/teams/{team}",
        None,
        {
            "owner": 409,
            "admin": "team.delete",
            "developer": "team.delete",
            "viewer": "team.delete",
            "server": 409,
        },
    ),
    ("server settings", "GET", "/api/routes", None, {**dict.fromkeys(TEAM_ROLES, "server"), "server": 200}),
    (
        "server settings",
        "POST",
        "/api/system/cleanup",  # the fake engine: nothing to clean
        None,
        {**dict.fromkeys(TEAM_ROLES, "server"), "server": 200},
    ),
    (
        "audit",
        "GET",
        "/api/audit",
        None,
        {**dict.fromkeys(ROLES, 200), "developer": "audit", "viewer": "audit"},
    ),
]


@pytest.fixture
async def world(tmp_path: Path, fake_runtime: FakeRuntime) -> AsyncIterator[dict[str, Any]]:
    fake_runtime.publish(f"{IMAGE}:1", body="v1")
    async with api_on(fake_runtime, make_config(tmp_path / "data")) as api:
        team = await make_team(api, "acme")
        status, project = await api.post("/api/projects", json={"name": "shop", "team_id": team["id"]})
        assert status == 201, project
        status, app = await api.post(
            "/api/apps",
            json={
                "name": "web",
                "project_id": project["id"],
                "source": {"kind": "image", "image": f"{IMAGE}:1"},
                "port": 8080,
            },
        )
        assert status == 201, app
        status, _ = await api.post(
            f"/api/apps/{app['id']}/env-vars", json={"key": "API_KEY", "value": "s3cret", "is_secret": True}
        )
        assert status == 201
        members: dict[str, Member] = {role: await member(api, team, f"u-{role}", role) for role in TEAM_ROLES}
        members["server"] = await member(api, None, "u-server", "", server_role="admin")
        yield {"api": api, "team": team, "app": app, "members": members}


async def _call(
    world: dict[str, Any], role: str, via: str, method: str, path: str, body: Any
) -> tuple[int, Any]:
    who: Member = world["members"][role]
    kwargs = {"json": body} if body is not None else {}
    if via == "session":
        return await who.request(method, path, **kwargs)
    token = world.setdefault("tokens", {}).get(role)
    if token is None:
        token = world["tokens"][role] = bearer(await who.token(["admin"]))
    return await world["api"].request(method, path, auth=False, headers=token, **kwargs)


@pytest.mark.parametrize("via", ["session", "token"])
async def test_each_role_allowed_and_denied_on_every_resource(world: dict[str, Any], via: str) -> None:
    failures = []
    for resource, method, template, body, expected in MATRIX:
        path = template.format(app=world["app"]["id"], team=world["team"]["id"])
        for role in ROLES:
            want = expected[role]
            status, answer = await _call(world, role, via, method, path, body)
            if isinstance(want, str):
                ok = status == 403 and answer["error"]["code"] == "permission_denied"
                ok = ok and answer["error"]["details"] == {"permission": want}
            else:
                ok = status == want
            if not ok:
                failures.append(f"{resource}: {role} {method} {path} -> {status} {answer}, expected {want}")
    assert not failures, "\n".join(failures)


async def test_secrets_stay_masked_without_reveal_and_clear_with_it(world: dict[str, Any]) -> None:
    path = f"/api/apps/{world['app']['id']}/env-vars/API_KEY"
    for role in ROLES:
        status, var = await world["members"][role].get(path)
        assert status == 200 and var["value"] != "s3cret", (role, var)
    for role in ("owner", "admin", "server"):
        status, var = await world["members"][role].get(path + "?reveal=true")
        assert status == 200 and var["value"] == "s3cret", (role, var)


async def test_terminal_websocket_follows_the_terminal_permission(world: dict[str, Any]) -> None:
    """Owners, admins and developers get past the check to the app's state (no running container: 4409); a viewer
    is refused at the handshake."""
    path = f"/apps/{world['app']['id']}/terminal/ws"
    expected = {
        "owner": "closed 4409",
        "admin": "closed 4409",
        "developer": "closed 4409",
        "viewer": "rejected 403",
    }
    expected["server"] = "closed 4409"
    for role, want in expected.items():
        who: Member = world["members"][role]
        cookie = next(c for c in who.client.client.cookie_jar if c.name == "rivetr_session")
        headers = {
            "Cookie": f"rivetr_session={cookie.value}",
            "Host": "localhost",
            "Origin": "http://localhost",
        }
        outcome = await websocket_outcome(
            who.client.client,
            path,
            headers=headers,
            scope_base={"subprotocols": ["rivetr.v1", f"rivetr.csrf.{who.csrf}"]},
            wait=10,  # the handler reads the app and its deployment before closing: slow on a busy machine
        )
        assert outcome == want, (role, outcome)
