"""Permission checks in one place (issue 20): every /api route and every WebSocket declares a permission, an
undeclared one is refused (fail closed), and a principal with narrower grants is stopped before the handler, over
real HTTP/WebSocket through the test client. The roles themselves are tests/test_authz_roles.py."""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from quart import Blueprint, Quart, websocket

from rivetr_core import hookimpl
from rivetr_core.auth import PUBLIC_API_PATHS, token_required
from rivetr_core.authz.enforce import PLUGIN_DEFAULT, ROUTE_PERMISSIONS
from rivetr_core.authz.permissions import PERMISSIONS, PUBLIC, Principal
from rivetr_core.authz.routes import CORE_ROUTES
from rivetr_core.contract import BlueprintRegistration, requires
from rivetr_core.contract.plugin import PERMISSION_ATTRIBUTE
from tests.support.server import ApiClient, websocket_outcome

VIEWER_TOKEN = "authz-test-viewer-" + secrets.token_hex(8)
CI_TOKEN = "authz-test-ci-" + secrets.token_hex(8)
NOBODY_TOKEN = "authz-test-nothing-" + secrets.token_hex(8)

#: The principals the later role/token work will build, handed out through the same hook it will use: a
#: credential verifier returning a Principal instead of a name.
TEST_PRINCIPALS = {
    VIEWER_TOKEN: Principal("token:test/viewer", team_role="viewer", server_role=None),
    CI_TOKEN: Principal(
        "token:test/ci", team_role="developer", server_role=None, scopes=frozenset({"deploy"})
    ),
    NOBODY_TOKEN: Principal("token:test/nothing", team_role=None, server_role=None),
}


async def _test_verifier(token: str) -> Principal | None:
    return TEST_PRINCIPALS.get(token)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class _Rule:
    def __init__(self, rule: str) -> None:
        self.rule = rule


def _example_path(rule: Any) -> str:
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"x\1", rule.rule)


class _PluginWithRoutes:
    """A third-party-style plugin: one route declares ``read``, one declares nothing (plugin default)."""

    def __init__(self, suffix: str) -> None:
        self.suffix = suffix
        bp = Blueprint(f"authz_plugin_{suffix}", __name__)

        @bp.get(f"/api/authz-{suffix}/declared")
        @requires("read")
        async def declared() -> dict[str, str]:
            return {"ok": "declared"}

        @bp.get(f"/api/authz-{suffix}/undeclared")
        async def undeclared() -> dict[str, str]:
            return {"ok": "undeclared"}

        @bp.websocket(f"/authz-{suffix}/page-ws")  # outside /api/, like the dashboard's: authenticates itself
        async def page_ws() -> None:
            await websocket.send("handler ran")

        self.bp = bp

    @hookimpl
    def rivetr_blueprints(self) -> list[BlueprintRegistration]:
        return [BlueprintRegistration(name=self.bp.name, blueprint=self.bp)]


@pytest.fixture
async def authz_app(config_factory: Callable[..., Any]) -> AsyncIterator[tuple[ApiClient, str]]:
    """Every in-repo plugin (entry points) plus a test plugin, and a throwaway core-style blueprint registered
    directly, which is neither in the core table nor a plugin's: undeclared."""
    from rivetr_core.app import create_app

    suffix = secrets.token_hex(4)
    app: Quart = create_app(config_factory(), plugins=[_PluginWithRoutes(suffix)])
    throwaway = Blueprint(f"authz_throwaway_{suffix}", __name__)

    @throwaway.get(f"/api/authz-{suffix}/throwaway")
    async def throwaway_view() -> dict[str, str]:
        raise AssertionError("an undeclared route's handler ran")

    @throwaway.websocket(f"/api/authz-{suffix}/throwaway-ws")
    async def throwaway_ws() -> None:
        await websocket.send("handler ran")

    @throwaway.websocket(f"/authz-{suffix}/throwaway-page-ws")
    async def throwaway_page_ws() -> None:
        await websocket.send("handler ran")

    app.register_blueprint(throwaway)
    app.extensions["rivetr_auth_verifiers"].append(_test_verifier)
    async with app.test_app():
        yield ApiClient(app), suffix


async def test_every_api_route_and_websocket_declares_a_permission(api: ApiClient) -> None:
    """The whole route map of an app with every in-repo plugin: each /api rule and each WebSocket resolves to
    a known permission. Fails listing every one that does not."""
    from rivetr_core.app import CORE_BLUEPRINTS

    assert any(path.startswith("rivetr_core.api.apps") for path in CORE_BLUEPRINTS)
    permissions = api.app.extensions[ROUTE_PERMISSIONS]
    rules = [r for r in api.app.url_map.iter_rules() if r.rule.startswith("/api/") or r.websocket]
    assert len(rules) > 100 and any(r.websocket for r in rules)
    undeclared = sorted(f"{r.endpoint} {r.rule}" for r in rules if permissions.permission(r.endpoint) is None)
    assert not undeclared, "routes without a declared permission:\n" + "\n".join(undeclared)
    for rule in rules:
        assert permissions.permission(rule.endpoint) in {*PERMISSIONS, PUBLIC}


async def test_core_table_names_only_real_endpoints_and_public_matches_the_guard(api: ApiClient) -> None:
    from rivetr_core.api.lazy import load_all_views

    load_all_views(api.app)  # core API modules load on first use: the checks below read their real views
    endpoints = {r.endpoint for r in api.app.url_map.iter_rules()}
    stale = sorted(set(CORE_ROUTES) - endpoints)
    assert not stale, f"rivetr_core/authz/routes.py names endpoints that do not exist: {stale}"
    assert set(CORE_ROUTES.values()) <= {*PERMISSIONS, PUBLIC}
    twice = sorted(e for e in CORE_ROUTES if hasattr(api.app.view_functions[e], PERMISSION_ATTRIBUTE))
    assert not twice, f"declared both in the table and with requires (one place only): {twice}"
    beside = sorted(
        endpoint
        for endpoint, view in api.app.view_functions.items()
        if view.__module__.startswith("rivetr_core.") and hasattr(view, PERMISSION_ATTRIBUTE)
    )
    assert not beside, f"core routes declare in rivetr_core/authz/routes.py, not with requires: {beside}"
    public = {r.rule for r in api.app.url_map.iter_rules() if CORE_ROUTES.get(r.endpoint) == PUBLIC}
    # One-time links' routes take their token in the path: the guard knows them by the token's prefix.
    links = {rule for rule in public if "<" in rule}
    assert {_example_path(_Rule(r)) for r in public - links} == set(PUBLIC_API_PATHS), (
        "declared-public routes and the guard's PUBLIC_API_PATHS differ"
    )
    for rule in links:
        with_token = re.sub(r"<[^>]+>", "rvt_rst_x" if "/reset/" in rule else "rvt_inv_x", rule)
        assert not token_required(with_token), rule
        assert token_required(_example_path(_Rule(rule))), f"{rule} is public for any value, not only a token"


async def test_an_undeclared_route_is_refused_fail_closed(
    authz_app: tuple[ApiClient, str], caplog: pytest.LogCaptureFixture
) -> None:
    client, suffix = authz_app
    with caplog.at_level("ERROR", logger="rivetr.authz"):
        status, body = await client.get(f"/api/authz-{suffix}/throwaway")  # the admin token: every right
    assert status == 403, body
    assert body["error"]["code"] == "permission_undeclared"
    assert body["error"]["details"] == {"endpoint": f"authz_throwaway_{suffix}.throwaway_view"}
    assert "declares no permission" in caplog.text
    # Unauthenticated it is still a 401 first: nothing about the route leaks.
    status, body = await client.get(f"/api/authz-{suffix}/throwaway", auth=False)
    assert status == 401
    outcome = await websocket_outcome(
        client.client, f"/api/authz-{suffix}/throwaway-ws", headers=_bearer_admin()
    )
    assert outcome == "rejected 403", outcome
    page_ws = await websocket_outcome(client.client, f"/authz-{suffix}/throwaway-page-ws")
    assert page_ws == "rejected 403", "a WebSocket outside /api/ needs a declaration too"


def _bearer_admin() -> dict[str, str]:
    from tests.support.server import AUTH

    return dict(AUTH)


async def test_plugin_routes_declare_with_requires_or_need_server(authz_app: tuple[ApiClient, str]) -> None:
    client, suffix = authz_app
    permissions = client.app.extensions[ROUTE_PERMISSIONS]
    assert permissions.permission(f"authz_plugin_{suffix}.declared") == "read"
    assert permissions.permission(f"authz_plugin_{suffix}.undeclared") == PLUGIN_DEFAULT == "server"
    assert await client.get(f"/api/authz-{suffix}/declared") == (200, {"ok": "declared"})
    assert await client.get(f"/api/authz-{suffix}/undeclared") == (200, {"ok": "undeclared"})
    viewer = _bearer(VIEWER_TOKEN)
    assert await client.get(f"/api/authz-{suffix}/declared", auth=False, headers=viewer) == (
        200,
        {"ok": "declared"},
    )
    status, body = await client.get(f"/api/authz-{suffix}/undeclared", auth=False, headers=viewer)
    assert status == 403 and body["error"]["code"] == "permission_denied"
    assert body["error"]["details"] == {"permission": "server"}


async def test_plugin_websocket_outside_api_is_checked_when_core_knows_the_caller(
    authz_app: tuple[ApiClient, str],
) -> None:
    """The dashboard's WebSockets authenticate in their handler; core still checks whoever it can identify."""
    client, suffix = authz_app
    path = f"/authz-{suffix}/page-ws"  # a plugin's, without requires: needs server
    assert (
        await websocket_outcome(client.client, path) == "accepted"
    )  # nobody identified: the handler decides
    assert await websocket_outcome(client.client, path, headers=_bearer_admin()) == "accepted"
    assert await websocket_outcome(client.client, path, headers=_bearer(VIEWER_TOKEN)) == "rejected 403"


def test_requires_rejects_an_unknown_permission() -> None:
    with pytest.raises(ValueError, match="unknown permission 'wrtie'"):
        requires("wrtie")


async def test_restricted_principal_is_stopped_before_the_handler(authz_app: tuple[ApiClient, str]) -> None:
    client, _suffix = authz_app
    viewer = _bearer(VIEWER_TOKEN)
    status, body = await client.get("/api/apps", auth=False, headers=viewer)
    assert status == 200 and body["items"] == []
    # Refused before the handler: an invalid body would otherwise be a 422.
    status, body = await client.post("/api/apps", auth=False, headers=viewer, json={"nonsense": 1})
    assert status == 403, body
    assert body["error"] == {
        "code": "permission_denied",
        "message": "This credential lacks the 'write' permission this route needs",
        "details": {"permission": "write"},
    }
    status, body = await client.post("/api/projects", auth=False, headers=viewer, json={"name": "p"})
    assert status == 403 and body["error"]["details"] == {"permission": "write"}
    assert (await client.get("/api/audit", auth=False, headers=viewer))[0] == 403
    # The same calls with full rights reach the handler.
    assert (await client.post("/api/apps", json={"nonsense": 1}))[0] == 422
    status, body = await client.post("/api/projects", json={"name": "authz-" + _suffix})
    assert status == 201, body


async def test_scoped_token_narrows_its_users_role(authz_app: tuple[ApiClient, str]) -> None:
    """A developer's ``deploy`` token deploys (the handler answers: no such app) but cannot create apps or
    reach its account (a leaked CI token cannot mint itself another)."""
    client, _suffix = authz_app
    ci = _bearer(CI_TOKEN)
    status, body = await client.post("/api/apps/nope/deploy", auth=False, headers=ci, json={})
    assert status == 404, body
    status, body = await client.post("/api/apps", auth=False, headers=ci, json={})
    assert status == 403 and body["error"]["details"] == {"permission": "write"}
    status, body = await client.get("/api/tokens", auth=False, headers=ci)
    assert status == 403 and body["error"]["details"] == {"permission": "account"}
    assert (await client.get("/api/auth/status", auth=False, headers=ci))[0] == 200  # public stays public


async def test_websockets_are_checked_too(authz_app: tuple[ApiClient, str]) -> None:
    client, _suffix = authz_app
    path = "/api/deployments/nope/logs/stream"  # read: the handler closes 4404 for an unknown deployment
    assert await websocket_outcome(client.client, path, headers=_bearer(VIEWER_TOKEN)) == "closed 4404"
    assert await websocket_outcome(client.client, path, headers=_bearer(NOBODY_TOKEN)) == "rejected 403"


async def test_refusals_are_audited_under_the_principals_name(authz_app: tuple[ApiClient, str]) -> None:
    """``request.rivetr_principal`` stays the name string audit records, for a refused call too."""
    client, suffix = authz_app
    path = f"/api/projects/authz-{suffix}"
    status, _body = await client.delete(path, auth=False, headers=_bearer(VIEWER_TOKEN))
    assert status == 403
    status, page = await client.get("/api/audit")
    assert status == 200
    entry = next(e for e in page["items"] if e["path"] == path)
    assert (entry["actor"], entry["status"], entry["method"]) == ("token:test/viewer", 403, "DELETE"), entry
