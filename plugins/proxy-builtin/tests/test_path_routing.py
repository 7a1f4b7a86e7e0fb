"""Path routes, prefix stripping, redirects and basic auth through a real proxy process and real backends
(issue 22). The rules live in route_rules.py; the route table's grouping in routing.py."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess

import pytest
from rivetr_proxy_builtin.route_rules import normalize_path
from rivetr_proxy_builtin.routing import RouteTable, normalize_prefix

from tests.support.proxy import http_get


def _bcrypt(password: str) -> str:
    import bcrypt

    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


def _argon2(password: str) -> str:
    from argon2 import PasswordHasher

    return PasswordHasher(time_cost=1, memory_cost=8192).hash(password)


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# ------------------------------------------------------------------------------------------------ unit level
def test_plain_host_keeps_the_plain_entry_and_prefix_hosts_get_a_dispatcher():
    t = RouteTable(
        [
            {"domain": "plain.test", "upstreams": ["127.0.0.1:1"]},
            {"domain": "api.test", "upstreams": ["127.0.0.1:2"]},
            {"domain": "api.test", "path_prefix": "/v1", "upstreams": ["127.0.0.1:3"]},
        ]
    )
    plain = t.lookup(b"plain.test")
    assert plain.special is None and plain.upstreams[0].port == 1  # the hot path's one attribute test
    api = t.lookup(b"api.test")
    assert api.special is not None and api.special.paths is not None
    assert sorted(e.domain for e in t.entries) == ["api.test", "api.test/v1", "plain.test"]


def test_prefix_and_path_normalisation():
    assert normalize_prefix(None) == normalize_prefix("") == normalize_prefix("/") == "/"
    assert normalize_prefix("v1/") == "/v1"
    assert normalize_prefix("/a/b") == "/a/b"
    for bad in ("/a//b", "/a/../b", "/a?x", "/%41", "/a b"):
        with pytest.raises(ValueError):
            normalize_prefix(bad)
    assert normalize_path(b"/v1/x") == b"/v1/x"
    assert normalize_path(b"/%761/x") == b"/v1/x"
    assert normalize_path(b"//v1//x/") == b"/v1/x/"
    assert normalize_path(b"/x/../v1/./y") == b"/v1/y"
    assert normalize_path(b"/../..") == b"/"


# ----------------------------------------------------------------------------------------- real processes
@pytest.fixture
def api_routes(proxy_factory, backend_factory):
    root, v1, v1beta, strip = (backend_factory(n) for n in ("root", "v1", "v1beta", "strip"))
    proxy = proxy_factory()
    proxy.set_route("api.test", root.address)
    proxy.set_route("api.test", v1.address, path_prefix="/v1")
    proxy.set_route("api.test", v1beta.address, path_prefix="/v1/beta")
    proxy.set_route("api.test", strip.address, path_prefix="/s", strip_prefix=True)
    proxy.set_route("only.test", v1.address, path_prefix="/v1")  # no "/" route at all
    return proxy


@pytest.mark.parametrize(
    ("path", "backend"),
    [
        ("/", "root"),
        ("/v1", "v1"),
        ("/v1/", "v1"),
        ("/v1/users?id=3", "v1"),
        ("/v10", "root"),  # a segment boundary, not a string prefix
        ("/v1x/y", "root"),
        ("/v1/beta", "v1beta"),  # the longest prefix wins
        ("/v1/beta/x", "v1beta"),
        ("/v1/betamax", "v1"),
        ("/V1", "root"),  # paths are case-sensitive
        ("/%761/x", "v1"),  # matched on the decoded path, as the app would see it
        ("/x/../v1/y", "v1"),
        ("//v1", "v1"),
        ("/s", "strip"),
    ],
)
def test_longest_prefix_on_a_segment_boundary(api_routes, path, backend):
    status, headers, body = http_get(api_routes.port, "api.test", path)
    assert status == 200
    assert headers["x-backend"] == backend, (path, body)


def test_a_host_without_a_root_route_answers_404_outside_its_prefixes(api_routes):
    assert http_get(api_routes.port, "only.test", "/v1/a")[1]["x-backend"] == "v1"
    assert http_get(api_routes.port, "only.test", "/")[0] == 404
    assert http_get(api_routes.port, "only.test", "/v2")[0] == 404


@pytest.mark.parametrize(
    ("path", "forwarded"),
    [
        ("/s/headers", "/headers"),
        ("/s/headers?a=1&b=%20", "/headers?a=1&b=%20"),  # the query string is kept as sent
        ("/s", "/"),
        ("/s?q=1", "/?q=1"),
        ("/s/", "/"),
    ],
)
def test_strip_prefix_rewrites_the_request_target(api_routes, path, forwarded):
    status, headers, body = http_get(api_routes.port, "api.test", path)
    assert status == 200 and headers["x-backend"] == "strip"
    if forwarded.startswith("/headers"):
        seen = json.loads(body)
        assert seen["request_line"].split(" ")[1] == forwarded
        sent = {k.lower(): v.strip() for k, v in seen["headers"]}
        assert sent["x-forwarded-prefix"] == "/s"


def test_without_strip_the_app_sees_the_full_path(api_routes, backend_factory):
    echo = backend_factory("echo")
    api_routes.set_route("echo.test", echo.address, path_prefix="/headers")
    status, _, body = http_get(api_routes.port, "echo.test", "/headers?x=1")
    assert status == 200
    assert json.loads(body)["request_line"].split(" ")[1] == "/headers?x=1"


def test_removing_one_path_route_leaves_the_others(api_routes):
    api_routes.call("remove_route", "api.test", path_prefix="/v1")
    assert http_get(api_routes.port, "api.test", "/v1/a")[1]["x-backend"] == "root"
    assert http_get(api_routes.port, "api.test", "/v1/beta")[1]["x-backend"] == "v1beta"
    statuses = {(r.domain, r.path_prefix) for r in api_routes.call("routes")}
    assert ("api.test", "/v1") not in statuses and ("api.test", "/v1/beta") in statuses


# ------------------------------------------------------------------------------------------------ redirects
@pytest.fixture
def redirect_routes(proxy_factory, backend_factory):
    app = backend_factory("app")
    proxy = proxy_factory()
    proxy.set_route("example.test", app.address, redirect_www="to-apex")
    proxy.set_route("www.other.test", app.address, redirect_www="to-www")
    proxy.set_route(
        "rules.test",
        app.address,
        redirects=[
            {"from": "/old", "to": "/new", "status": 301},
            {"from": "/gone", "to": "https://elsewhere.test/landing", "status": 302},
            {"from": "/tmp", "to": "/t", "status": 307},
            {"from": "/perm", "to": "/p/", "status": 308},
        ],
    )
    return proxy


@pytest.mark.parametrize(
    ("host", "path", "status", "location"),
    [
        ("www.example.test", "/a/b?x=1", 301, "http://example.test/a/b?x=1"),
        ("www.example.test:PORT", "/", 301, "http://example.test:PORT/"),
        ("other.test", "/p?q", 301, "http://www.other.test/p?q"),
        ("rules.test", "/old", 301, "/new"),
        ("rules.test", "/old/page?x=1", 301, "/new/page?x=1"),
        ("rules.test", "/gone/x", 302, "https://elsewhere.test/landing/x"),
        ("rules.test", "/tmp?a=b", 307, "/t?a=b"),
        ("rules.test", "/perm/z", 308, "/p/z"),
        ("rules.test", "/old/%0d%0aSet-Cookie:%20a=b", 301, "/new/%0d%0aSet-Cookie:%20a=b"),
    ],
)
def test_redirect_matrix(redirect_routes, host, path, status, location):
    port = str(redirect_routes.port)
    got, headers, _ = http_get(redirect_routes.port, host.replace("PORT", port), path)
    assert got == status
    assert headers["location"] == location.replace("PORT", port)
    assert "set-cookie" not in headers


@pytest.mark.parametrize(
    ("host", "path"),
    [("example.test", "/a"), ("www.other.test", "/"), ("rules.test", "/older"), ("rules.test", "/")],
)
def test_canonical_names_and_unmatched_paths_are_served(redirect_routes, host, path):
    status, headers, _ = http_get(redirect_routes.port, host, path)
    assert status == 200 and headers["x-backend"] == "app"


def test_www_redirect_of_a_post_keeps_the_method(redirect_routes):
    import socket

    with socket.create_connection(("127.0.0.1", redirect_routes.port), 10) as s:
        s.sendall(
            b"POST /f HTTP/1.1\r\nHost: www.example.test\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"
        )
        data = s.makefile("rb").read()
    assert data.startswith(b"HTTP/1.1 308 ")
    assert b"Location: http://example.test/f\r\n" in data


# ----------------------------------------------------------------------------------------------- basic auth
@pytest.fixture
def auth_proxy(proxy_factory, backend_factory):
    app, public = backend_factory("secret"), backend_factory("public")
    proxy = proxy_factory()
    users = {"alice": _bcrypt("wonder land"), "bob": _argon2("builder")}
    proxy.set_route("staging.test", app.address, auth={"realm": 'Staging "eu"', "users": users})
    proxy.set_route("mixed.test", public.address)
    proxy.set_route("mixed.test", app.address, path_prefix="/admin", auth={"realm": "Admin", "users": users})
    return proxy


def test_basic_auth_challenges_and_admits(auth_proxy):
    status, headers, _ = http_get(auth_proxy.port, "staging.test", "/")
    assert status == 401
    assert headers["www-authenticate"] == 'Basic realm="Staging \\"eu\\"", charset="UTF-8"'
    for user, password, expected in [
        ("alice", "wonder land", 200),
        ("bob", "builder", 200),  # an argon2 hash
        ("alice", "wrong", 401),
        ("bob", "wonder land", 401),
        ("carol", "x", 401),
        ("alice", "wonder land", 200),  # again: from the cache
    ]:
        status, headers, _ = http_get(
            auth_proxy.port, "staging.test", "/", authorization=_basic(user, password)
        )
        assert status == expected, (user, password)
    assert http_get(auth_proxy.port, "staging.test", "/", authorization="Bearer abc")[0] == 401
    assert http_get(auth_proxy.port, "staging.test", "/", authorization="Basic !!notb64")[0] == 401


def test_the_authorization_header_is_not_forwarded(auth_proxy):
    status, _, body = http_get(
        auth_proxy.port, "staging.test", "/headers", authorization=_basic("alice", "wonder land")
    )
    assert status == 200
    names = {k.lower() for k, _ in json.loads(body)["headers"]}
    assert "authorization" not in names


def test_auth_on_a_path_route_only(auth_proxy):
    assert http_get(auth_proxy.port, "mixed.test", "/")[1]["x-backend"] == "public"
    assert http_get(auth_proxy.port, "mixed.test", "/admin/x")[0] == 401
    assert http_get(auth_proxy.port, "mixed.test", "/%61dmin/x")[0] == 401  # no way around it by encoding
    assert http_get(auth_proxy.port, "mixed.test", "/pub/../admin")[0] == 401
    ok = http_get(auth_proxy.port, "mixed.test", "/admin/x", authorization=_basic("bob", "builder"))
    assert ok[0] == 200 and ok[1]["x-backend"] == "secret"


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_curl_user(auth_proxy):
    def curl(*args: str) -> str:
        url = f"http://127.0.0.1:{auth_proxy.port}/"
        cmd = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: staging.test", *args, url]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True).stdout

    assert curl() == "401"
    assert curl("-u", "alice:wonder land") == "200"
    assert curl("-u", "alice:nope") == "401"


def test_a_changed_password_is_not_admitted_from_the_cache(proxy_factory, backend_factory):
    app = backend_factory("app")
    proxy = proxy_factory()
    proxy.set_route("cache.test", app.address, auth={"users": {"ann": _bcrypt("first")}})
    assert http_get(proxy.port, "cache.test", "/", authorization=_basic("ann", "first"))[0] == 200
    proxy.set_route("cache.test", app.address, auth={"users": {"ann": _bcrypt("second")}})
    assert http_get(proxy.port, "cache.test", "/", authorization=_basic("ann", "first"))[0] == 401
    assert http_get(proxy.port, "cache.test", "/", authorization=_basic("ann", "second"))[0] == 200
    proxy.set_route("cache.test", app.address, auth={"users": {"bob": _bcrypt("second")}})
    assert http_get(proxy.port, "cache.test", "/", authorization=_basic("ann", "second"))[0] == 401


def test_the_persisted_table_with_password_hashes_is_owner_only(proxy_factory, backend_factory):
    import stat

    app = backend_factory("app")
    proxy = proxy_factory()
    proxy.set_route("perm.test", app.address, auth={"users": {"ann": _bcrypt("x")}})
    state = proxy.state_dir / "state.json"
    assert "$2b$" in state.read_text()
    assert stat.S_IMODE(state.stat().st_mode) == 0o600


def test_made_up_credentials_beyond_the_budget_get_429_and_known_ones_still_pass(
    proxy_factory, backend_factory
):
    from rivetr_proxy_builtin.route_rules import VERIFY_PER_SECOND

    app = backend_factory("app")
    proxy = proxy_factory()
    proxy.set_route("flood.test", app.address, auth={"users": {"ann": _bcrypt("right")}})
    assert (
        http_get(proxy.port, "flood.test", "/", authorization=_basic("ann", "right"))[0] == 200
    )  # now cached
    # One connection, many requests: all within the same second or two, far beyond the budget.
    import socket

    n = VERIFY_PER_SECOND * 4
    with socket.create_connection(("127.0.0.1", proxy.port), 30) as s:
        for i in range(n):
            s.sendall(
                f"GET / HTTP/1.1\r\nHost: flood.test\r\nAuthorization: {_basic('ann', f'guess{i}')}\r\n\r\n".encode()
            )
        s.sendall(
            f"GET / HTTP/1.1\r\nHost: flood.test\r\nAuthorization: {_basic('ann', 'right')}\r\nConnection: close\r\n\r\n".encode()
        )
        data = s.makefile("rb").read()
    statuses = [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", data)]
    assert len(statuses) == n + 1
    assert statuses.count(429) >= n - 2 * VERIFY_PER_SECOND  # at most two seconds' budget was verified
    assert set(statuses[:-1]) <= {401, 429}
    assert statuses[-1] == 200  # the cached credentials are not throttled
