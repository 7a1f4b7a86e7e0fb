"""Scoped API tokens and the acting team (issue 20), through the real app and database: real users with real team
roles (tests/support/roles.py), tokens made by ``POST /api/tokens`` with their sessions or other tokens.

Scopes narrow a token to read / deploy / write / admin, and a token never exceeds its user's CURRENT role; expiry,
a disabled user and a team's require_2fa refuse it; a token mints only within its own scopes, team and
restriction; users see and revoke their own tokens, server admins everyone's. The acting team comes from
``X-Rivetr-Team`` / the dashboard's switcher (``PUT /api/auth/team``) / the token's team / the user's team.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from rivetr_core.db.engine import utcnow
from rivetr_core.models.accounts import ApiToken
from rivetr_core.testing import FakeRuntime
from tests.support.roles import Member, bearer, make_team, member, set_user
from tests.support.server import ApiClient, api_on, make_config

IMAGE = "registry.example.com/acme/web"


@pytest.fixture
async def api(tmp_path: Path, fake_runtime: FakeRuntime) -> AsyncIterator[ApiClient]:
    fake_runtime.publish(f"{IMAGE}:1", body="v1")
    async with api_on(fake_runtime, make_config(tmp_path / "data")) as client:
        yield client


async def _team_app(api: ApiClient, team: dict[str, Any], name: str) -> dict[str, Any]:
    status, project = await api.post("/api/projects", json={"name": f"{name}-p", "team_id": team["id"]})
    assert status == 201, project
    status, app = await api.post(
        "/api/apps",
        json={
            "name": name,
            "project_id": project["id"],
            "source": {"kind": "image", "image": f"{IMAGE}:1"},
            "port": 8080,
        },
    )
    assert status == 201, app
    return {**app, "project": project}


@pytest.fixture
async def acme(api: ApiClient) -> dict[str, Any]:
    team = await make_team(api, "acme")
    return {"team": team, "app": await _team_app(api, team, "web")}


def _denied(answer: tuple[int, Any], permission: str) -> None:
    status, body = answer
    assert status == 403, body
    assert body["error"]["code"] == "permission_denied", body
    assert body["error"]["details"] == {"permission": permission}


async def test_scopes_are_required_and_known(api: ApiClient, acme: dict[str, Any]) -> None:
    dev = await member(api, acme["team"], "dev", "developer")
    for body, field in (({"name": "x"}, "scopes"), ({"name": "x", "scopes": []}, "scopes")):
        status, error = await dev.post("/api/tokens", json=body)
        assert status == 422 and error["error"]["details"][0]["field"] == field, error
    status, error = await dev.post("/api/tokens", json={"name": "x", "scopes": ["root"]})
    assert status == 422 and error["error"]["details"][0]["field"].startswith("scopes"), error
    token = await dev.token(["read", "deploy"])
    assert token["scopes"] == ["deploy", "read"] and token["user_id"] == dev.user_id
    assert token["team_id"] is None and token["app_ids"] is None and token["created_by"] == "user:dev"


async def test_read_deploy_and_write_scopes(api: ApiClient, acme: dict[str, Any]) -> None:
    app = acme["app"]
    dev = await member(api, acme["team"], "dev", "developer")
    read, deploy, write = [bearer(await dev.token([s])) for s in ("read", "deploy", "write")]

    assert (await api.get(f"/api/apps/{app['id']}", auth=False, headers=read))[0] == 200
    _denied(await api.post(f"/api/apps/{app['id']}/deploy", auth=False, headers=read, json={}), "deploy")

    status, deployment = await api.post(f"/api/apps/{app['id']}/deploy", auth=False, headers=deploy, json={})
    assert status == 202, deployment
    _denied(await api.put(f"/api/apps/{app['id']}", auth=False, headers=deploy, json={"port": 81}), "write")
    _denied(await api.get("/api/tokens", auth=False, headers=deploy), "account")  # cannot mint another

    status, changed = await api.put(f"/api/apps/{app['id']}", auth=False, headers=write, json={"port": 81})
    assert status == 200 and changed["port"] == 81, changed
    _denied(
        await api.get(f"/api/apps/{app['id']}/env-vars?reveal=true", auth=False, headers=write),
        "secrets.reveal",
    )


async def test_a_token_never_exceeds_its_users_current_role(api: ApiClient, acme: dict[str, Any]) -> None:
    """An ``admin``-scoped token of a developer writes; the owner demotes the developer to viewer and the same
    token (and session) can no longer write, at once and without logging in again; promoting restores it."""
    app, team = acme["app"], acme["team"]
    owner = await member(api, team, "boss", "owner")
    dev = await member(api, team, "dev", "developer")
    token = bearer(await dev.token(["admin"]))
    path = f"/api/apps/{app['id']}"
    assert (await api.put(path, auth=False, headers=token, json={"port": 82}))[0] == 200
    _denied(await api.get(f"{path}/env-vars?reveal=true", auth=False, headers=token), "secrets.reveal")

    status, demoted = await owner.put(f"/api/teams/{team['id']}/members/dev", json={"role": "viewer"})
    assert status == 200 and demoted["role"] == "viewer", demoted
    _denied(await api.put(path, auth=False, headers=token, json={"port": 83}), "write")
    _denied(await dev.put(path, json={"port": 83}), "write")
    assert (await api.get(path, auth=False, headers=token))[0] == 200

    assert (await owner.put(f"/api/teams/{team['id']}/members/dev", json={"role": "admin"}))[0] == 200
    status, revealed = await api.get(f"{path}/env-vars?reveal=true", auth=False, headers=token)
    assert status == 200, revealed
    status, _ = await owner.delete(f"/api/teams/{team['id']}/members/dev")
    assert status == 204
    status, body = await api.get(path, auth=False, headers=token)
    assert status == 403 and body["error"]["details"] == {"permission": "read"}, body  # no team left


async def test_expired_token_and_disabled_user_are_401(api: ApiClient, acme: dict[str, Any]) -> None:
    dev = await member(api, acme["team"], "dev", "developer")
    created = await dev.token(["read"])
    assert (await api.get("/api/apps", auth=False, headers=bearer(created)))[0] == 200
    async with api.ctx.db.session() as s:
        row = await s.get(ApiToken, created["id"])
        row.expires_at = utcnow() - timedelta(seconds=1)
        s.add(row)
        await s.commit()
    api.ctx.services.accounts.forget_verified_tokens()  # expiry is normally set at creation, never cached past
    status, body = await api.get("/api/apps", auth=False, headers=bearer(created))
    assert status == 401 and body["error"]["code"] == "unauthorized", body

    live = bearer(await dev.token(["read"]))
    await set_user(api, "dev", disabled=True)
    for status, body in (
        await api.get("/api/apps", auth=False, headers=live),
        await dev.get("/api/apps"),
    ):
        assert status == 401 and body["error"]["code"] == "account_disabled", body
    await set_user(api, "dev", disabled=False)
    assert (await dev.get("/api/apps"))[0] == 200


async def test_require_2fa_withholds_team_rights_until_two_factor_is_on(
    api: ApiClient, acme: dict[str, Any]
) -> None:
    team = acme["team"]
    dev = await member(api, team, "dev", "developer")
    token = bearer(await dev.token(["admin"]))
    assert (await api.put(f"/api/teams/{team['id']}", json={"require_2fa": True}))[0] == 200
    for status, body in (await dev.get("/api/apps"), await api.get("/api/apps", auth=False, headers=token)):
        assert status == 403, body
        assert body["error"]["code"] == "two_factor_required" and "profile" in body["error"]["message"], body
    status, me = await dev.get("/api/auth/team")  # account routes still work
    assert status == 200 and me["two_factor_required"] is True and me["team_role"] is None, me
    assert (await dev.get("/api/tokens"))[0] == 200
    await set_user(api, "dev", two_factor_enabled=True)
    assert (await dev.get("/api/apps"))[0] == 200
    assert (await api.get("/api/apps", auth=False, headers=token))[0] == 200


async def test_team_and_restrictions_of_a_new_token(api: ApiClient, acme: dict[str, Any]) -> None:
    team, app = acme["team"], acme["app"]
    other = await make_team(api, "other")
    other_app = await _team_app(api, other, "elsewhere")
    dev = await member(api, team, "dev", "developer")

    status, error = await dev.post(
        "/api/tokens", json={"name": "t", "scopes": ["read"], "team_id": other["id"]}
    )
    assert status == 404 and error["error"]["details"][0]["field"] == "team_id", error
    status, error = await dev.post("/api/tokens", json={"name": "t", "scopes": ["read"], "app_ids": ["nope"]})
    assert status == 404 and error["error"]["details"][0]["field"] == "app_ids", error
    status, error = await dev.post(
        "/api/tokens", json={"name": "t", "scopes": ["read"], "team_id": "acme", "app_ids": [other_app["id"]]}
    )
    assert status == 404 and error["error"]["details"][0]["field"] == "app_ids", error
    status, error = await dev.post(
        "/api/tokens", json={"name": "t", "scopes": ["read"], "project_ids": [other_app["project"]["id"]]}
    )
    assert status == 404 and error["error"]["details"][0]["field"] == "project_ids", error

    # CI: deploy on one app; the team comes from the app.
    ci = await dev.token(["deploy"], app_ids=[app["id"]])
    assert (ci["team_id"], ci["app_ids"], ci["scopes"]) == (team["id"], [app["id"]], ["deploy"])
    status, _ = await api.post(f"/api/apps/{app['id']}/deploy", auth=False, headers=bearer(ci), json={})
    assert status == 202

    # A token mints only within its own scopes, team and restriction.
    admin_on_app = bearer(await dev.token(["admin"], app_ids=[app["id"]], team_id="acme"))
    status, error = await api.post(
        "/api/tokens", auth=False, headers=admin_on_app, json={"name": "wider", "scopes": ["read"]}
    )
    assert status == 403 and error["error"]["details"][0]["field"] == "app_ids", error
    status, narrower = await api.post(
        "/api/tokens",
        auth=False,
        headers=admin_on_app,
        json={"name": "narrower", "scopes": ["read"], "app_ids": [app["id"]]},
    )
    assert status == 201 and narrower["created_by"] == "token:dev/dev-admin", narrower
    write_token = bearer(await dev.token(["write"]))
    _denied(
        await api.post(
            "/api/tokens", auth=False, headers=write_token, json={"name": "x", "scopes": ["read"]}
        ),
        "account",
    )


async def test_users_see_and_revoke_their_own_tokens_admins_everyones(
    api: ApiClient, acme: dict[str, Any]
) -> None:
    team = acme["team"]
    ann = await member(api, team, "ann", "owner")
    bob = await member(api, team, "bob", "developer")
    ops = await member(api, None, "ops", "", server_role="admin")
    ann_token, bob_token = await ann.token(["read"]), await bob.token(["read"])
    status, admin_made = await api.post("/api/tokens", json={"name": "from-admin", "scopes": ["write"]})
    assert status == 201 and admin_made["user_id"] is None

    def names(answer: tuple[int, Any]) -> list[str]:
        assert answer[0] == 200, answer
        return sorted(t["name"] for t in answer[1]["items"])

    assert names(await ann.get("/api/tokens")) == ["ann-read"]
    assert names(await ann.get("/api/tokens?all=true")) == ["ann-read"]  # not a server admin
    assert names(await ops.get("/api/tokens?all=true")) == ["ann-read", "bob-read", "from-admin"]
    assert names(await api.get("/api/tokens")) == ["from-admin"]  # the admin token's own

    status, _ = await ann.delete(f"/api/tokens/{bob_token['id']}")
    assert status == 404  # someone else's token is not there for her
    assert (await bob.get("/api/tokens"))[0] == 200
    assert (await ops.delete(f"/api/tokens/{bob_token['id']}"))[0] == 204
    assert (await api.get("/api/apps", auth=False, headers=bearer(bob_token)))[0] == 401
    assert (await ann.delete(f"/api/tokens/{ann_token['id']}"))[0] == 204


async def test_acting_team_header_switcher_and_token_team(api: ApiClient, acme: dict[str, Any]) -> None:
    team = acme["team"]
    other = await make_team(api, "other")
    both = await member(api, team, "both", "viewer")
    assert (
        await api.post(f"/api/teams/{other['id']}/members", json={"username": "both", "role": "developer"})
    )[0] == 201
    outsider = await member(api, None, "solo", "")

    status, me = await both.get("/api/auth/team")
    assert status == 200, me
    assert (me["team_id"], me["team_role"], me["server_role"]) == (team["id"], "viewer", None)  # first joined
    assert [t["name"] for t in me["teams"]] == ["acme", "other"]
    _denied(await both.post("/api/apps", json={}), "write")
    status, body = await both.post("/api/apps", json={}, headers={"X-Rivetr-Team": "other"})
    assert status == 422, body  # a developer there: past the check, to the body's validation
    status, body = await both.get("/api/apps", headers={"X-Rivetr-Team": "nope"})
    assert status == 404 and body["error"]["message"] == "Team 'nope' not found", body

    status, switched = await both.put("/api/auth/team", json={"team_id": "other"})
    assert status == 200 and (switched["team_id"], switched["team_role"]) == (other["id"], "developer"), (
        switched
    )
    assert (await both.post("/api/apps", json={}))[0] == 422  # the session now acts in "other"
    status, error = await both.put("/api/auth/team", json={"team_id": "default"})
    assert status == 404 and error["error"]["details"][0]["field"] == "team_id", error
    assert (await both.put("/api/auth/team", json={"team_id": None}))[1]["team_id"] == team["id"]

    token = await both.token(["admin"], team_id="other")
    assert token["team_id"] == other["id"]
    status, me = await api.get("/api/auth/team", auth=False, headers=bearer(token))
    assert status == 200 and (me["team_id"], me["team_role"]) == (other["id"], "developer"), me
    status, body = await api.get("/api/apps", auth=False, headers={**bearer(token), "X-Rivetr-Team": "acme"})
    assert status == 404, body  # a token acts in its own team only
    status, body = await api.put("/api/auth/team", auth=False, headers=bearer(token), json={"team_id": None})
    assert status == 409 and body["error"]["code"] == "not_a_session", body

    status, me = await outsider.get("/api/auth/team")
    assert status == 200 and (me["team_id"], me["team_role"], me["teams"]) == (None, None, []), me
    _denied(await outsider.get("/api/apps"), "read")

    status, me = await api.get("/api/auth/team", headers={"X-Rivetr-Team": "acme"})  # the admin token
    assert status == 200 and (me["team_id"], me["team_role"], me["server_role"]) == (
        team["id"],
        "owner",
        "owner",
    )
    status, me = await api.get("/api/auth/team")
    assert status == 200 and me["team_id"] is None and "server" in me["permissions"]


async def test_server_admins_act_in_every_team_or_the_one_they_choose(
    api: ApiClient, acme: dict[str, Any]
) -> None:
    ops: Member = await member(api, None, "ops", "", server_role="admin")
    status, me = await ops.get("/api/auth/team")
    assert status == 200 and (me["team_id"], me["team_role"], me["server_role"]) == (
        None,
        "owner",
        "admin",
    ), me
    assert {t["name"] for t in me["teams"]} == {"acme", "default"}
    assert (await ops.get("/api/routes"))[0] == 200
    status, switched = await ops.put("/api/auth/team", json={"team_id": "acme"})
    assert status == 200 and (switched["team_id"], switched["team_role"]) == (acme["team"]["id"], "owner")
    assert (await ops.put("/api/auth/team", json={"team_id": None}))[1]["team_id"] is None


async def test_openapi_documents_scopes_and_the_acting_team(api: ApiClient) -> None:
    status, spec = await api.get("/openapi.json", auth=False)
    assert status == 200
    assert {"get", "put"} <= set(spec["paths"]["/api/auth/team"])
    schemas = spec["components"]["schemas"]
    token_in = spec["paths"]["/api/tokens"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert token_in["required"] == ["name", "scopes"]
    assert token_in["properties"]["scopes"]["items"]["enum"] == ["read", "deploy", "write", "admin"]
    assert {"scopes", "team_id", "app_ids", "project_ids", "user_id"} <= set(
        schemas["TokenOut"]["properties"]
    )
    acting = spec["paths"]["/api/auth/team"]["get"]["responses"]["200"]["content"]["application/json"][
        "schema"
    ]
    assert {"team_id", "team_role", "permissions", "teams"} <= set(acting["properties"])


async def test_tokens_of_the_admin_token_are_server_owners_in_any_or_their_team(
    api: ApiClient, acme: dict[str, Any]
) -> None:
    status, anywhere = await api.post("/api/tokens", json={"name": "ops", "scopes": ["write"]})
    assert status == 201 and anywhere["user_id"] is None
    status, me = await api.get("/api/auth/team", auth=False, headers=bearer(anywhere))
    assert status == 403  # write scope: no account rights, but every team's resources
    status, body = await api.put(
        f"/api/apps/{acme['app']['id']}", auth=False, headers=bearer(anywhere), json={"port": 0}
    )
    assert status == 422, body
    status, body = await api.get(
        "/api/apps", auth=False, headers={**bearer(anywhere), "X-Rivetr-Team": "nope"}
    )
    assert status == 404 and body["error"]["message"] == "Team 'nope' not found", body
    status, bound = await api.post(
        "/api/tokens", json={"name": "acme-ops", "scopes": ["admin"], "team_id": "acme"}
    )
    assert status == 201 and bound["team_id"] == acme["team"]["id"]
    status, me = await api.get("/api/auth/team", auth=False, headers=bearer(bound))
    assert status == 200 and (me["team_id"], me["team_role"], me["server_role"]) == (
        acme["team"]["id"],
        "owner",
        "owner",
    )
