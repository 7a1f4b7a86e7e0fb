"""Path routes, redirects and basic auth through the API and a real proxy process (issue 22): POST /api/routes
with path prefixes, GET/PUT /api/routes/settings/{key}, app domains with a path, and requests through the
proxy to real backends."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest

from rivetr_core.app import create_app
from tests.support.proxy import HttpBackend, http_get
from tests.support.server import ApiClient


@pytest.fixture
def backends() -> Any:
    made = {name: HttpBackend(name) for name in ("root", "v1", "admin")}
    yield made
    for b in made.values():
        b.stop()


def _get(port: int, host: str, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    return http_get(port, host, path, **headers)


async def test_manual_path_routes_flow(routed: Any, backends: Any) -> None:
    import asyncio

    api, port = routed
    ok = [
        await api.post(
            "/api/routes", json={"domain": "api.example.com", "upstreams": [backends["root"].address]}
        ),
        await api.post(
            "/api/routes",
            json={
                "domain": "api.example.com",
                "path_prefix": "/v1/",
                "strip_prefix": True,
                "upstreams": [backends["v1"].address],
            },
        ),
    ]
    assert [s for s, _ in ok] == [201, 201], ok
    created = ok[1][1]
    assert created["key"] == "api.example.com/v1" and created["path_prefix"] == "/v1"
    assert created["domain"] == "api.example.com" and created["settings"]["strip_prefix"] is True

    def through(path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
        return _get(port, "api.example.com", path, **headers)

    got = await asyncio.to_thread(through, "/v1/headers?x=1")
    assert got[1]["x-backend"] == "v1" and b'"GET /headers?x=1 HTTP/1.1"' in got[2]
    assert (await asyncio.to_thread(through, "/v10"))[1]["x-backend"] == "root"

    status, page = await api.get("/api/routes")
    assert status == 200
    assert [(r["domain"], r["path_prefix"]) for r in page["items"]] == [
        ("api.example.com", "/"),
        ("api.example.com", "/v1"),
    ]

    # Redirect rules and basic auth on the / route; the /v1 route stays open.
    status, settings = await api.put(
        "/api/routes/settings/api.example.com",
        json={
            "redirects": [{"from": "/old", "to": "/new", "status": 308}],
            "basic_auth": {"realm": "Staging", "users": [{"name": "ann", "password": "s3cret pass"}]},
        },
    )
    assert status == 200, settings
    assert settings["basic_auth"] == {"realm": "Staging", "users": ["ann"]}  # never the hash
    assert settings["redirects"] == [{"from": "/old", "to": "/new", "status": 308}]
    moved = await asyncio.to_thread(through, "/old/a?b=1")
    assert moved[0] == 308 and moved[1]["location"] == "/new/a?b=1"
    assert (await asyncio.to_thread(through, "/"))[0] == 401
    basic = "Basic " + base64.b64encode(b"ann:s3cret pass").decode()
    assert (await asyncio.to_thread(lambda: through("/", authorization=basic)))[1]["x-backend"] == "root"
    assert (await asyncio.to_thread(through, "/v1/x"))[0] == 200
    stored = await api.ctx.services.routes.settings_row("api.example.com")
    assert stored.auth_users_enc and "$2b$" not in stored.auth_users_enc  # encrypted at rest

    # A user given by name alone keeps its password; a ready argon2 hash is taken.
    from argon2 import PasswordHasher

    argon = PasswordHasher(time_cost=1, memory_cost=8192).hash("bob pw")
    status, settings = await api.put(
        "/api/routes/settings/api.example.com",
        json={"basic_auth": {"users": [{"name": "ann"}, {"name": "bob", "hash": argon}]}},
    )
    assert status == 200 and settings["basic_auth"]["users"] == ["ann", "bob"]
    bob = "Basic " + base64.b64encode(b"bob:bob pw").decode()
    assert (await asyncio.to_thread(lambda: through("/", authorization=bob)))[0] == 200
    assert (await asyncio.to_thread(lambda: through("/", authorization=basic)))[0] == 200
    status, settings = await api.put("/api/routes/settings/api.example.com", json={"basic_auth": None})
    assert status == 200 and settings["basic_auth"] is None
    assert (await asyncio.to_thread(through, "/"))[0] == 200

    # Removing the /v1 route leaves / serving /v1 paths.
    assert (await api.delete("/api/routes/api.example.com/v1"))[0] == 204
    assert (await asyncio.to_thread(through, "/v1/x"))[1]["x-backend"] == "root"
    assert (await api.delete("/api/routes/api.example.com/v1"))[0] == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"path_prefix": "/a/../b"}, "path_prefix"),
        ({"path_prefix": "/a b"}, "path_prefix"),
        ({"path_prefix": "/%41"}, "path_prefix"),
    ],
)
async def test_bad_route_input(routed: Any, body: dict[str, Any], field: str) -> None:
    api, _ = routed
    status, err = await api.post(
        "/api/routes", json={"domain": "x.example.com", "upstreams": ["127.0.0.1:9"], **body}
    )
    assert status == 422, err
    assert field in {d["field"] for d in err["error"]["details"]}


@pytest.mark.parametrize(
    ("key", "body", "field"),
    [
        ("x.example.com/v1", {"redirect_www": "to-apex"}, "redirect_www"),
        ("www.example.com", {"redirect_www": "to-apex"}, "redirect_www"),
        ("example.com", {"redirect_www": "to-www"}, "redirect_www"),
        ("x.example.com", {"redirects": [{"from": "/a", "to": "//evil.test/", "status": 301}]}, "redirects"),
        ("x.example.com", {"redirects": [{"from": "/a", "to": "/b\r\nX: y", "status": 301}]}, "redirects"),
        ("x.example.com", {"redirects": [{"from": "/a", "to": "/b", "status": 303}]}, "redirects"),
        (
            "x.example.com",
            {"basic_auth": {"users": [{"name": "a", "hash": "plain"}]}},
            "basic_auth.users[0].hash",
        ),
        ("x.example.com", {"basic_auth": {"users": [{"name": "new"}]}}, "basic_auth.users[0].password"),
        (
            "x.example.com",
            {"basic_auth": {"users": [{"name": "a:b", "password": "x"}]}},
            "basic_auth.users.0.name",
        ),
    ],
)
async def test_bad_settings_are_refused_by_field(
    routed: Any, key: str, body: dict[str, Any], field: str
) -> None:
    api, _ = routed
    status, err = await api.put(f"/api/routes/settings/{key}", json=body)
    assert status == 422, err
    fields = {d["field"] for d in err["error"]["details"]}
    assert any(f.startswith(field.split(".")[0]) for f in fields), fields
    assert (await api.get(f"/api/routes/settings/{key}"))[1]["redirects"] == []  # nothing stored


async def test_strip_prefix_on_a_root_route_has_no_effect(routed: Any) -> None:
    api, _ = routed
    status, settings = await api.put("/api/routes/settings/x.example.com", json={"strip_prefix": True})
    assert status == 200 and settings["strip_prefix"] is False  # nothing to strip on /


async def test_delete_does_not_answer_for_the_settings_resource(routed: Any) -> None:
    api, _ = routed
    status, _ = await api.delete("/api/routes/settings/x.example.com")
    assert status == 405


async def test_app_domains_with_paths_are_routes_of_their_own(routed: Any) -> None:
    api, _ = routed
    common = {"git_url": "https://example.com/x.git"}
    status, one = await api.post("/api/apps", json={"name": "one", "domains": ["shop.example.com"], **common})
    assert status == 201, one
    status, two = await api.post(
        "/api/apps", json={"name": "two", "domains": ["Shop.Example.com/API/"], **common}
    )
    assert status == 201, two
    assert two["domains"] == ["shop.example.com/API"]  # the domain lower-cased, the path kept as it is
    status, clash = await api.post(
        "/api/apps", json={"name": "three", "domains": ["shop.example.com/API"], **common}
    )
    assert status == 409, clash
    status, bad = await api.post(
        "/api/apps", json={"name": "four", "domains": ["shop.example.com/a/../b"], **common}
    )
    assert status == 422, bad
    # Settings of an app's domain entry before it is ever routed wait for it.
    status, settings = await api.put("/api/routes/settings/shop.example.com/API", json={"strip_prefix": True})
    assert status == 200 and settings["strip_prefix"] is True and settings["path_prefix"] == "/API"


async def test_www_redirect_through_the_api(routed: Any, backends: Any) -> None:
    import asyncio

    api, port = routed
    assert (
        await api.post("/api/routes", json={"domain": "shop.test", "upstreams": [backends["root"].address]})
    )[0] == 201
    status, _ = await api.put("/api/routes/settings/shop.test", json={"redirect_www": "to-apex"})
    assert status == 200
    got = await asyncio.to_thread(_get, port, "www.shop.test", "/p?q=1")
    assert got[0] == 301 and got[1]["location"] == "http://shop.test/p?q=1"
    assert (await asyncio.to_thread(_get, port, "shop.test", "/p"))[1]["x-backend"] == "root"


async def test_a_host_is_shared_by_path_inside_one_project_only(routed: Any) -> None:
    api, _ = routed
    common = {"git_url": "https://example.com/x.git"}
    projects = []
    for name in ("alpha", "beta"):
        status, project = await api.post("/api/projects", json={"name": name})
        assert status == 201, project
        projects.append(project["id"])
    alpha, beta = projects
    status, _ = await api.post(
        "/api/apps", json={"name": "a1", "project_id": alpha, "domains": ["t.example.com"], **common}
    )
    assert status == 201
    status, ok = await api.post(
        "/api/apps", json={"name": "a2", "project_id": alpha, "domains": ["t.example.com/api"], **common}
    )
    assert status == 201, ok
    status, err = await api.post(
        "/api/apps", json={"name": "b1", "project_id": beta, "domains": ["t.example.com/admin"], **common}
    )
    assert status == 409, err
    assert err["error"]["details"][0]["field"] == "domains"
    assert "another project" in err["error"]["details"][0]["message"]
    # A manual route's host is not an app's to share either.
    assert (await api.post("/api/routes", json={"domain": "m.example.com", "upstreams": ["127.0.0.1:9"]}))[
        0
    ] == 201
    status, err = await api.post("/api/apps", json={"name": "a3", "domains": ["m.example.com/x"], **common})
    assert status == 409, err


async def test_no_path_route_on_the_dashboard_domain(config_factory: Callable[..., Any]) -> None:
    config = config_factory(
        proxy={"enabled": True},
        plugins={"proxy-builtin": {"keep_running": False}},
        server={"dashboard_domain": "dash.example.com"},
    )
    app = create_app(config)
    async with app.test_app():
        api = ApiClient(app)
        from rivetr_core.routing import dashboard_route

        # In-process the API's address is unknown, so no dashboard route is made: give the service one.
        api.ctx.services.routes.dashboard = dashboard_route("dash.example.com", "127.0.0.1:1")
        body = {"domain": "dash.example.com", "path_prefix": "/x", "upstreams": ["127.0.0.1:9"]}
        status, err = await api.post("/api/routes", json=body)
        assert status == 409, err
        status, err = await api.post(
            "/api/apps",
            json={"name": "d", "git_url": "https://example.com/x.git", "domains": ["dash.example.com/x"]},
        )
        assert status == 409, err


async def test_stack_domains_with_paths(api: ApiClient) -> None:
    from tests.test_stacks_api import create

    stack = await create(api, domains=[{"domain": "S.example.com/api/", "service": "web", "port": 8080}])
    assert [d["domain"] for d in stack["domains"]] == ["s.example.com/api"]
    common = {"git_url": "https://example.com/x.git"}
    status, err = await api.post("/api/apps", json={"name": "a", "domains": ["s.example.com/api"], **common})
    assert status == 409, err  # the key is the stack's
    status, ok = await api.post("/api/apps", json={"name": "b", "domains": ["s.example.com"], **common})
    assert status == 201, ok  # another path of the host, same (no) project
