"""Audit log: mutating API calls and logins are recorded (no bodies), and the query filters work."""

from __future__ import annotations

import json

from tests.support import at_rest

ROUTE = {"domain": "audit.example.com", "upstreams": ["127.0.0.1:9"]}


async def test_mutating_calls_are_recorded_with_target_and_client(api) -> None:
    assert (await api.post("/api/routes", json=ROUTE))[0] == 201
    assert (await api.delete("/api/routes/audit.example.com"))[0] == 204
    assert (await api.delete("/api/routes/missing.example.com"))[0] == 404
    assert (await api.get("/api/routes"))[0] == 200  # reads are not audited

    status, body = await api.get("/api/audit")
    assert status == 200, body
    assert body["next"] is None
    entries = body["items"]
    assert [(e["method"], e["route"], e["status"]) for e in entries] == [
        ("DELETE", "/api/routes/<routekey:key>", 404),
        ("DELETE", "/api/routes/<routekey:key>", 204),
        ("POST", "/api/routes", 201),
    ]
    newest = entries[0]
    assert newest["actor"] == "admin" and newest["target"] == {"key": "missing.example.com"}
    assert newest["action"] == "routes_api.delete_route" and newest["outcome"] == "failure"
    assert newest["client"] and newest["request_id"] and newest["ts"].endswith("Z")


async def test_unauthenticated_mutation_is_recorded_as_anonymous(api) -> None:
    status, _ = await api.post("/api/routes", json=ROUTE, auth=False)
    assert status == 401
    _, body = await api.get("/api/audit?actor=anonymous")
    assert [(e["status"], e["path"]) for e in body["items"]] == [(401, "/api/routes")]


async def test_client_address_ignores_forwarded_for_from_untrusted_peer(api) -> None:
    await api.post("/api/routes", json=ROUTE, headers={"X-Forwarded-For": "203.0.113.7"})
    _, body = await api.get("/api/audit")
    assert body["items"][0]["client"] != "203.0.113.7"


async def test_login_success_and_failure_recorded_without_password(api) -> None:
    secret = "correct horse battery staple"
    status, _ = await api.post("/api/auth/setup", json={"username": "alice", "password": secret})
    assert status == 201
    status, _ = await api.post(
        "/api/auth/login", json={"username": "alice", "password": "wrong-password-1"}, auth=False
    )
    assert status == 401
    status, _ = await api.post("/api/auth/login", json={"username": "alice", "password": secret}, auth=False)
    assert status == 200
    _, body = await api.get("/api/audit?action=auth.")
    assert [(e["action"], e["actor"], e["outcome"]) for e in body["items"]] == [
        ("auth.login", "user:alice", "success"),
        ("auth.login", "user:alice", "failure"),
        ("auth.setup", "user:alice", "success"),
    ]
    stored = at_rest.stored_bytes(api.ctx)
    assert secret.encode() not in stored and b"wrong-password-1" not in stored


async def test_filters_and_paging(api) -> None:
    for i in range(5):
        await api.post("/api/routes", json={**ROUTE, "domain": f"r{i}.example.com"})
    await api.delete("/api/routes/r3.example.com")
    _, body = await api.get("/api/audit?target=r3.example.com")
    assert [e["method"] for e in body["items"]] == ["DELETE"]
    first = (await api.get("/api/audit?limit=2"))[1]
    assert [e["method"] for e in first["items"]] == ["DELETE", "POST"] and first["next"]
    # The filters hold on every page; the next pages go on after the cursor, none repeated or skipped.
    query = "action=routes_api.create&status=201"
    everything = (await api.get(f"/api/audit?{query}&limit=200"))[1]["items"]
    assert len(everything) == 5 and all(e["action"] == "routes_api.create_route" for e in everything)
    seen, cursor = [], None
    while True:
        code, page = await api.get(f"/api/audit?{query}&limit=2" + (f"&cursor={cursor}" if cursor else ""))
        assert code == 200, page
        seen.append([e["id"] for e in page["items"]])
        if not (cursor := page["next"]):
            break
    ids = [e["id"] for e in everything]
    assert seen == [ids[:2], ids[2:4], ids[4:]] and ids == sorted(ids, reverse=True)
    _, body = await api.get("/api/audit?since=2999-01-01T00:00:00Z")
    assert body == {"items": [], "next": None}
    _, body = await api.get("/api/audit?until=2999-01-01T00:00:00Z&actor=admin&limit=200")
    assert len(body["items"]) == 6 and body["next"] is None


async def test_bad_filter_is_422_naming_the_parameter(api) -> None:
    status, body = await api.get("/api/audit?since=yesterday")
    assert status == 422 and "since" in body["error"]["message"]
    status, body = await api.get("/api/audit?limit=0")
    assert status == 422 and "limit" in body["error"]["message"]
    status, body = await api.get("/api/audit?offset=1")  # paging is by cursor now: refused, not ignored
    assert status == 422 and "offset" in json.dumps(body["error"])


async def test_dashboard_form_login_is_recorded(api) -> None:
    import re

    status, _ = await api.post("/api/auth/setup", json={"username": "dora", "password": "a-long-password-2"})
    assert status == 201
    client = api.app.test_client()  # a browser: cookies kept between requests
    page = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', await page.get_data(as_text=True)).group(1)
    wrong = await client.post(
        "/login", form={"csrf_token": token, "username": "dora", "password": "nope-nope-1"}
    )
    assert wrong.status_code == 401
    right = await client.post(
        "/login", form={"csrf_token": token, "username": "dora", "password": "a-long-password-2"}
    )
    assert right.status_code in (302, 303)
    _, body = await api.get("/api/audit?actor=user:dora")
    assert [(e["path"], e["action"], e["outcome"]) for e in body["items"]] == [
        ("/login", "auth.login", "success"),
        ("/login", "auth.login", "failure"),
        ("/api/auth/setup", "auth.setup", "success"),
    ]


async def test_anonymous_rate_limited_floods_are_not_recorded(config_factory) -> None:
    from rivetr_core.app import create_app
    from tests.support.server import ApiClient

    app = create_app(config_factory(rate_limit={"enabled": True, "burst": 2, "requests_per_minute": 1}))
    async with app.test_app():
        api = ApiClient(app)
        statuses = [(await api.post("/api/routes", json=ROUTE, auth=False))[0] for _ in range(6)]
        assert statuses[:2] == [401, 401] and set(statuses[2:]) == {429}
        rows, next_cursor = await app.extensions["rivetr_audit"].query()
        assert len(rows) == 2 and next_cursor is None and {r.status for r in rows} == {401}
