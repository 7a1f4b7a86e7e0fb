"""Accounts: first-run setup, login sessions (cookie + CSRF), API tokens, via the real app and database."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from rivetr_core.accounts import credentials, passwords
from rivetr_core.accounts.service import AccountService
from rivetr_core.accounts.web import SESSION_COOKIE
from rivetr_core.app import create_app
from rivetr_core.db.engine import utcnow
from tests.support import at_rest
from tests.support.server import ADMIN_TOKEN, AUTH, ApiClient, websocket_outcome

PASSWORD = "correct horse battery"


def cookie_of(client: ApiClient, name: str = SESSION_COOKIE) -> str | None:
    for cookie in client.client.cookie_jar:
        if cookie.name == name:
            return cookie.value
    return None


async def setup_admin(api: ApiClient, username: str = "alice", password: str = PASSWORD) -> dict:
    """First-run setup, proving the server with the admin token (as a bearer token)."""
    status, body = await api.post("/api/auth/setup", json={"username": username, "password": password})
    assert status == 201, body
    return body


# ------------------------------------------------------------------------------------------------ passwords
def test_password_hash_is_argon2id_and_verifies() -> None:
    stored = passwords.hash_password(PASSWORD)
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert passwords.verify_password(stored, PASSWORD)
    assert not passwords.verify_password(stored, PASSWORD + "x")
    assert not passwords.verify_password(None, PASSWORD)
    assert not passwords.verify_password("not a hash", PASSWORD)


def test_password_policy_names_the_problem() -> None:
    assert passwords.password_problem("short", 10) == "must be at least 10 characters"
    assert passwords.password_problem(" " * 12, 10) == "must not be only whitespace"
    assert passwords.password_problem("x" * 2000, 10).startswith("must be at most")
    assert passwords.password_problem(PASSWORD, 10) is None


def test_csrf_token_is_bound_to_the_session() -> None:
    a, b = credentials.new_session_id(), credentials.new_session_id()
    assert a != b and len(a) > 40
    assert credentials.csrf_for_session(a) == credentials.csrf_for_session(a)
    assert credentials.csrf_for_session(a) != credentials.csrf_for_session(b)
    assert not credentials.same("", "")


# ------------------------------------------------------------------------------------------------ setup
async def test_status_reports_setup_required_then_done(api: ApiClient) -> None:
    status, body = await api.get("/api/auth/status", auth=False)
    assert status == 200
    assert body["setup_required"] is True and body["authenticated"] is False
    assert body["min_password_length"] == 10
    created = await setup_admin(api)
    assert created["user"]["username"] == "alice" and created["user"]["role"] == "admin"
    assert "password" not in str(created["user"]).lower()
    status, body = await api.get("/api/auth/status", auth=False)
    assert body["setup_required"] is False
    assert body["authenticated"] is True and body["via"] == "session"  # setup logs the admin in


async def test_setup_needs_the_admin_token_as_proof_of_the_server(api: ApiClient) -> None:
    """Whoever reaches a fresh install first must not own it: setup wants the admin token (data/admin.token)."""
    creds = {"username": "mallory", "password": "another long password"}
    for kwargs in (
        {"auth": False},
        {"auth": False, "headers": {"Authorization": "Bearer wrong-token"}},
        {"auth": False, "json": {**creds, "setup_token": "wrong-token"}},
        {"auth": False, "json": {**creds, "setup_token": ""}},
    ):
        status, body = await api.post("/api/auth/setup", **{"json": creds, **kwargs})
        assert status == 401, (kwargs, body)
        error = body["error"]
        assert error["code"] == "setup_token_required"
        assert "admin token" in error["message"] and "setup_token" in error["message"]
        assert error["details"] == [{"field": "setup_token", "message": error["message"]}]
    assert await api.ctx.services["accounts"].setup_required()
    assert await api.ctx.services["accounts"].list_users() == []


@pytest.mark.parametrize("proof", ["bearer", "field"])
async def test_setup_token_field_or_bearer_proves_the_server(api: ApiClient, proof: str) -> None:
    body = {"username": "alice", "password": PASSWORD}
    if proof == "field":
        status, created = await api.post(
            "/api/auth/setup", auth=False, json={**body, "setup_token": ADMIN_TOKEN}
        )
    else:
        status, created = await api.post("/api/auth/setup", json=body)
    assert status == 201, created
    assert created["user"]["username"] == "alice"
    assert not await api.ctx.services["accounts"].setup_required()


async def test_setup_error_names_the_generated_token_file(config_factory) -> None:
    """The generated token's file is what the message and the page point to."""
    app = create_app(config_factory(auth={"admin_token": None}))
    async with app.test_app():
        client = ApiClient(app)
        status, body = await client.post(
            "/api/auth/setup", auth=False, json={"username": "alice", "password": PASSWORD}
        )
        token_file = app.config["RIVETR"].server.data_dir / "admin.token"
        assert status == 401 and str(token_file) in body["error"]["message"]
        token = token_file.read_text().strip()
        status, _ = await client.post(
            "/api/auth/setup",
            auth=False,
            headers={"Authorization": f"Bearer {token}"},
            json={"username": "alice", "password": PASSWORD},
        )
        assert status == 201


async def test_setup_is_refused_once_a_user_exists(api: ApiClient) -> None:
    await setup_admin(api)
    status, body = await api.post(
        "/api/auth/setup", json={"username": "mallory", "password": "another long password"}
    )
    assert status == 409
    assert body["error"]["code"] == "already_set_up"
    assert [u.username for u in await api.ctx.services["accounts"].list_users()] == ["alice"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"username": "alice", "password": "short"}, "password"),
        ({"username": "bad name!", "password": PASSWORD}, "username"),
        ({"username": "alice"}, "password"),
        ({"password": PASSWORD}, "username"),
    ],
)
async def test_setup_validation_names_the_field(api: ApiClient, payload: dict, field: str) -> None:
    status, body = await api.post("/api/auth/setup", json=payload)
    assert status == 422, body
    assert body["error"]["details"][0]["field"] == field
    assert field in body["error"]["message"]
    assert await api.ctx.services["accounts"].setup_required()


async def test_password_is_stored_hashed(api: ApiClient) -> None:
    await setup_admin(api)
    ((hashed,),) = at_rest.query(api.ctx, "SELECT password_hash FROM users")
    assert hashed.startswith("$argon2id$") and PASSWORD not in hashed


# ------------------------------------------------------------------------------------------------ login
async def test_login_wrong_password_and_unknown_user_look_the_same(api: ApiClient) -> None:
    await setup_admin(api)
    s1, b1 = await api.post(
        "/api/auth/login", auth=False, json={"username": "alice", "password": "wrong-password"}
    )
    s2, b2 = await api.post(
        "/api/auth/login", auth=False, json={"username": "nobody", "password": "wrong-password"}
    )
    assert s1 == s2 == 401
    assert b1["error"] == b2["error"]
    assert b1["error"]["code"] == "invalid_credentials"


async def test_login_sets_a_hardened_cookie_and_rotates_the_session(api: ApiClient) -> None:
    await setup_admin(api)
    first = cookie_of(api)
    response = await api.client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    header = response.headers["Set-Cookie"]
    assert f"{SESSION_COOKIE}=" in header
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Max-Age=86400" in header
    assert "Secure" not in header  # plain HTTP in tests
    second = cookie_of(api)
    assert second and second != first
    service: AccountService = api.ctx.services["accounts"]
    assert await service.session_for(first) is None  # the old id no longer works
    assert await service.session_for(second) is not None
    hashes = [r[0] for r in at_rest.query(api.ctx, "SELECT token_hash FROM user_sessions")]
    assert hashes == [hashlib.sha256(second.encode()).hexdigest()]


async def test_session_cookie_needs_the_csrf_header_on_api_calls(api: ApiClient) -> None:
    body = await setup_admin(api)
    csrf = body["csrf_token"]
    status, _ = await api.get("/api/routes", auth=False)
    assert status == 401  # cookie alone: a cross-site request could carry it
    status, _ = await api.get("/api/routes", auth=False, headers={"X-CSRF-Token": "0" * 64})
    assert status == 401
    status, data = await api.get("/api/routes", auth=False, headers={"X-CSRF-Token": csrf})
    assert status == 200 and data == {"items": [], "next": None}
    status, _ = await api.post("/api/tokens", auth=False, json={"name": "x"})
    assert status == 401


async def test_logout_ends_the_session(api: ApiClient) -> None:
    body = await setup_admin(api)
    csrf = body["csrf_token"]
    raw = cookie_of(api)
    replay = {"X-CSRF-Token": csrf, "Cookie": f"{SESSION_COOKIE}={raw}"}
    api.client.cookie_jar.clear()
    status, _ = await api.get("/api/routes", auth=False, headers=replay)
    assert status == 200  # the explicit cookie header works while the session lives
    status, _ = await api.post("/api/auth/logout", auth=False, headers=replay)
    assert status == 204
    assert await api.ctx.services["accounts"].session_for(raw) is None
    status, _ = await api.get("/api/routes", auth=False, headers=replay)  # replaying the old cookie fails
    assert status == 401


async def test_expired_session_is_refused_and_swept(api: ApiClient) -> None:
    await setup_admin(api)
    service: AccountService = api.ctx.services["accounts"]
    user = await service.get_user_by_name("alice")
    result = await service.open_session(user)
    async with api.ctx.db.session() as s:
        row = await s.get(type(result.session), result.session.id)
        row.expires_at = utcnow() - timedelta(seconds=1)
        s.add(row)
        await s.commit()
    assert await service.session_for(result.session_id) is None
    assert all(sess.id != result.session.id for sess, _ in await service.list_sessions(user.id))


async def test_session_lifetime_comes_from_config(config_factory) -> None:
    app = create_app(config_factory(auth={"session_hours": 2}))
    async with app.test_app():
        client = ApiClient(app)
        response = await client.client.post(
            "/api/auth/setup", json={"username": "bob", "password": PASSWORD}, headers=AUTH
        )
        assert "Max-Age=7200" in response.headers["Set-Cookie"]


async def test_secure_cookie_only_via_trusted_proxy(config_factory) -> None:
    app = create_app(config_factory(server={"trusted_proxies": ["127.0.0.0/8"]}))
    async with app.test_app():
        client = ApiClient(app)
        await client.client.post(
            "/api/auth/setup", json={"username": "bob", "password": PASSWORD}, headers=AUTH
        )
        creds = {"username": "bob", "password": PASSWORD}
        plain = await client.client.post(
            "/api/auth/login", json=creds, scope_base={"client": ("127.0.0.1", 1)}
        )
        assert "Secure" not in plain.headers["Set-Cookie"]
        proxied = await client.client.post(
            "/api/auth/login",
            json=creds,
            headers={"X-Forwarded-Proto": "https"},
            scope_base={"client": ("127.0.0.1", 1)},
        )
        assert "Secure" in proxied.headers["Set-Cookie"]
        spoofed = await client.client.post(
            "/api/auth/login",
            json=creds,
            headers={"X-Forwarded-Proto": "https"},
            scope_base={"client": ("203.0.113.9", 1)},
        )
        assert "Secure" not in spoofed.headers["Set-Cookie"]


async def test_login_is_rate_limited(config_factory) -> None:
    app = create_app(config_factory(rate_limit={"enabled": True, "login_per_minute": 3}))
    async with app.test_app():
        client = ApiClient(app)
        creds = {"username": "nobody", "password": "wrong-password"}
        statuses = [(await client.post("/api/auth/login", auth=False, json=creds))[0] for _ in range(5)]
        assert statuses[:3] == [401, 401, 401]
        assert statuses[3:] == [429, 429]


async def test_change_password_ends_sessions(api: ApiClient) -> None:
    body = await setup_admin(api)
    status, _ = await api.post(
        "/api/auth/password",
        auth=False,
        headers={"X-CSRF-Token": body["csrf_token"]},
        json={"current_password": "nope", "new_password": "another long password"},
    )
    assert status == 422
    status, _ = await api.post(
        "/api/auth/password",
        auth=False,
        headers={"X-CSRF-Token": body["csrf_token"]},
        json={"current_password": PASSWORD, "new_password": "another long password"},
    )
    assert status == 204
    status, _ = await api.get("/api/routes", auth=False, headers={"X-CSRF-Token": body["csrf_token"]})
    assert status == 401
    status, _ = await api.post(
        "/api/auth/login", auth=False, json={"username": "alice", "password": PASSWORD}
    )
    assert status == 401
    status, _ = await api.post(
        "/api/auth/login", auth=False, json={"username": "alice", "password": "another long password"}
    )
    assert status == 200


# ------------------------------------------------------------------------------------------------ tokens
async def test_api_token_lifecycle(api: ApiClient) -> None:
    await setup_admin(api)
    status, created = await api.post("/api/tokens", json={"name": "ci", "scopes": ["admin"]})
    assert status == 201
    raw = created["token"]
    assert raw.startswith("rvt_pat_") and created["prefix"] == raw[:12]
    bearer = {"Authorization": f"Bearer {raw}"}
    status, listed = await api.get("/api/tokens", auth=False, headers=bearer)
    assert status == 200
    listed = listed["items"]
    assert [t["name"] for t in listed] == ["ci"]
    assert "token" not in listed[0] and raw not in str(listed)
    assert listed[0]["last_used_at"] is not None
    dump = at_rest.stored_bytes(api.ctx).decode(errors="replace")
    assert raw not in dump and hashlib.sha256(raw.encode()).hexdigest() in dump
    status, _ = await api.delete(f"/api/tokens/{created['id']}")
    assert status == 204
    status, body = await api.get("/api/routes", auth=False, headers=bearer)
    assert status == 401 and body["error"]["code"] == "unauthorized"
    status, body = await api.delete(f"/api/tokens/{created['id']}")
    assert status == 404


async def test_token_created_by_session_records_the_user(api: ApiClient) -> None:
    body = await setup_admin(api)
    status, created = await api.post(
        "/api/tokens",
        auth=False,
        headers={"X-CSRF-Token": body["csrf_token"]},
        json={"name": "laptop", "scopes": ["admin"], "expires_in_days": 30},
    )
    assert status == 201
    assert created["created_by"] == "user:alice" and created["expires_at"] is not None
    api.client.cookie_jar.clear()
    status, who = await api.get(
        "/api/auth/status", auth=False, headers={"Authorization": f"Bearer {created['token']}"}
    )
    assert who["via"] == "api_token" and who["user"]["username"] == "alice"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "", "scopes": ["read"]}, "name"),
        ({"scopes": ["read"]}, "name"),
        ({"name": "x", "scopes": ["read"], "expires_in_days": 0}, "expires_in_days"),
        ({"name": "x"}, "scopes"),
    ],
)
async def test_token_validation_names_the_field(api: ApiClient, payload: dict, field: str) -> None:
    status, body = await api.post("/api/tokens", json=payload)
    assert status == 422
    assert body["error"]["details"][0]["field"] == field


async def test_expired_and_forged_tokens_are_refused(api: ApiClient) -> None:
    service: AccountService = api.ctx.services["accounts"]
    token, raw = await service.create_token("old", expires_in_days=1)
    async with api.ctx.db.session() as s:
        row = await s.get(type(token), token.id)
        row.expires_at = utcnow() - timedelta(minutes=1)
        s.add(row)
        await s.commit()
    for value in (raw, credentials.new_api_token(), "rvt_pat_short"):
        status, _ = await api.get("/api/routes", auth=False, headers={"Authorization": f"Bearer {value}"})
        assert status == 401


async def test_openapi_documents_the_account_endpoints(api: ApiClient) -> None:
    status, spec = await api.get("/openapi.json", auth=False)
    assert status == 200
    for path in (
        "/api/auth/setup",
        "/api/auth/login",
        "/api/auth/status",
        "/api/tokens",
        "/api/tokens/{token_id}",
    ):
        assert path in spec["paths"], path


async def test_session_authorises_api_websockets_with_csrf_and_same_origin(api: ApiClient) -> None:
    body = await setup_admin(api)
    raw = cookie_of(api)
    api.client.cookie_jar.clear()
    headers = {"Cookie": f"{SESSION_COOKIE}={raw}", "Host": "localhost", "Origin": "http://localhost"}
    path = "/api/deployments/nope/logs/stream"  # 4404 after authentication; refused (401) at the handshake before
    # The CSRF token rides in the subprotocol list (never the URL); the test client takes it in the scope.
    offer = {"subprotocols": ["rivetr.v1", f"rivetr.csrf.{body['csrf_token']}"]}
    # The handler closes after a database lookup: wait for it (a busy machine, a PostgreSQL round trip).
    good = await websocket_outcome(api.client, path, headers=headers, scope_base=offer, wait=10)
    assert good == "closed 4404"
    assert await websocket_outcome(api.client, path, headers=headers) == "rejected 401"
    cross_site = {**headers, "Origin": "https://evil.example"}
    assert await websocket_outcome(api.client, path, headers=cross_site, scope_base=offer) == ("rejected 401")


async def test_sessions_are_listed_and_revocable(api: ApiClient) -> None:
    body = await setup_admin(api)
    mine = {"X-CSRF-Token": body["csrf_token"]}
    service: AccountService = api.ctx.services["accounts"]
    other = await service.open_session(
        await service.get_user_by_name("alice"), ip="203.0.113.7", user_agent="phone"
    )
    status, body = await api.get("/api/auth/sessions", auth=False, headers=mine)
    assert status == 200 and body["next"] is None
    listed = body["items"]
    assert [(s["current"], s["username"]) for s in listed] == [(False, "alice"), (True, "alice")]
    assert listed[0]["ip"] == "203.0.113.7" and "token_hash" not in listed[0]
    status, _ = await api.delete(f"/api/auth/sessions/{other.session.id}", auth=False, headers=mine)
    assert status == 204
    assert await service.session_for(other.session_id) is None  # the other device is logged out at once
    assert (await api.get("/api/routes", auth=False, headers=mine))[0] == 200  # this one is not
    status, _ = await api.delete(f"/api/auth/sessions/{other.session.id}", auth=False, headers=mine)
    assert status == 404


@pytest.mark.parametrize("name", ["me", "ME"])
async def test_the_first_user_cannot_be_called_me(api: ApiClient, name: str) -> None:
    """``/api/users/me`` names the caller, so no account may have that name, the server owner included."""
    status, body = await api.post("/api/auth/setup", json={"username": name, "password": PASSWORD})
    assert status == 422, body
    assert body["error"]["details"][0]["field"] == "username" and "reserved" in body["error"]["message"]
    assert await api.ctx.services["accounts"].setup_required()
