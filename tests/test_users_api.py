"""User administration (``/api/users``) and password-reset links through the real app and database: the list and
lookups, server roles, disabling (login refused with ``account_disabled``, sessions ended), deleting (sessions and
tokens die with the user: the SQLite foreign keys really cascade), the owner rules, one's own profile; the rules that
depend on who asks are also checked with principals built by hand (a server admin is not an owner)."""

from __future__ import annotations

from typing import Any

import pytest

from rivetr_core.accounts.web import SESSION_COOKIE
from rivetr_core.authz.permissions import Principal
from tests.support.server import ApiClient
from tests.test_invitations import PASSWORD, db_rows, db_write, field_of


async def login(api: ApiClient, username: str, password: str = PASSWORD) -> tuple[int, Any]:
    return await api.post("/api/auth/login", auth=False, json={"username": username, "password": password})


async def as_user(api: ApiClient, username: str) -> dict[str, str]:
    """Log ``username`` in on the test client (its cookie jar); the headers that make its calls count."""
    status, body = await login(api, username)
    assert status == 200, body
    return {"X-CSRF-Token": body["csrf_token"]}


async def test_users_are_listed_and_looked_up_by_id_or_name(api: ApiClient) -> None:
    owner = await api.ctx.services.accounts.create_first_user("olivia", PASSWORD)
    member = await api.ctx.services.accounts.create_user("mike", PASSWORD, role="member")
    status, page = await api.get("/api/users?limit=1")
    assert status == 200 and page["next"]
    status, rest = await api.get(f"/api/users?limit=1&cursor={page['next']}")
    listed = page["items"] + rest["items"]
    assert [u["username"] for u in listed] == ["olivia", "mike"] and rest["next"] is None
    first = listed[0]
    assert (
        first["server_role"],
        first["is_server_owner"],
        first["disabled"],
        first["two_factor_enabled"],
    ) == (
        "owner",
        True,
        False,
        False,
    )
    assert first["teams"] == [{"team_id": "default", "name": "default", "role": "owner"}]
    assert "password" not in str(listed)
    assert (await api.get(f"/api/users/{member.id}"))[1]["username"] == "mike"
    _, by_name = await api.get("/api/users/mike")
    assert (by_name["id"], by_name["server_role"], by_name["teams"]) == (member.id, None, [])
    status, missing = await api.get("/api/users/nobody")
    assert status == 404 and missing["error"]["code"] == "not_found"
    assert owner.id != member.id


async def test_disabling_refuses_login_and_ends_sessions_then_enabling_restores(api: ApiClient) -> None:
    await api.ctx.services.accounts.create_first_user("olivia", PASSWORD)
    await api.ctx.services.accounts.create_user("mike", PASSWORD, role="member")
    headers = await as_user(api, "mike")
    assert (await api.get("/api/users/me", auth=False, headers=headers))[0] == 200

    status, changed = await api.put("/api/users/mike", json={"disabled": True})
    assert status == 200 and changed["disabled"] is True
    assert db_rows(api, "SELECT count(*) FROM user_sessions WHERE user_id = ?", changed["id"]) == [(0,)]
    assert (await api.get("/api/users/me", auth=False, headers=headers))[0] == 401
    status, refused = await login(api, "mike")
    assert status == 401 and refused["error"]["code"] == "account_disabled"
    status, wrong = await login(api, "mike", "not the password")
    assert (
        status == 401 and wrong["error"]["code"] == "invalid_credentials"
    )  # disabled is told to the user only

    status, enabled = await api.put("/api/users/mike", json={"disabled": False})
    assert status == 200 and enabled["disabled"] is False
    assert (await login(api, "mike"))[0] == 200


async def test_server_roles_change_and_bad_input_names_the_field(api: ApiClient) -> None:
    await api.ctx.services.accounts.create_first_user("olivia", PASSWORD)
    await api.ctx.services.accounts.create_user("mike", PASSWORD, role="member")
    status, admin = await api.put("/api/users/mike", json={"role": "admin"})
    assert status == 200 and (admin["role"], admin["server_role"]) == ("admin", "admin")
    status, owner = await api.put("/api/users/mike", json={"role": "owner"})  # the admin token is an owner
    assert status == 200 and (owner["server_role"], owner["is_server_owner"]) == ("owner", True)
    status, member = await api.put("/api/users/olivia", json={"role": "member"})  # mike still owns the server
    assert status == 200 and (member["server_role"], member["is_server_owner"]) == (None, False)
    for body, field in (({"role": "god"}, "role"), ({"disabled": "maybe"}, "disabled"), ({"x": 1}, "x")):
        status, bad = await api.put("/api/users/mike", json=body)
        assert status == 422 and field in str(bad["error"]["details"]), bad
    assert (await api.put("/api/users/nobody", json={"role": "admin"}))[0] == 404


async def test_the_last_owner_cannot_be_demoted_disabled_or_deleted(api: ApiClient) -> None:
    await api.ctx.services.accounts.create_first_user("olivia", PASSWORD)
    for method, body in (("PUT", {"role": "admin"}), ("PUT", {"disabled": True}), ("DELETE", None)):
        status, refused = await api.request(method, "/api/users/olivia", json=body)
        assert status == 409 and refused["error"]["code"] == "last_owner", (method, body, refused)
    _, olivia = await api.get("/api/users/olivia")
    assert (olivia["server_role"], olivia["disabled"]) == ("owner", False)  # nothing changed


async def test_nobody_disables_or_deletes_their_own_account(api: ApiClient) -> None:
    await api.ctx.services.accounts.create_first_user("olivia", PASSWORD)
    await api.ctx.services.accounts.create_user("oscar", PASSWORD, role="admin")
    assert (await api.put("/api/users/oscar", json={"role": "owner"}))[0] == 200  # two owners
    headers = await as_user(api, "olivia")
    for method, body in (("PUT", {"disabled": True}), ("DELETE", None)):
        status, refused = await api.request(
            method, "/api/users/olivia", auth=False, headers=headers, json=body
        )
        assert status == 409 and refused["error"]["code"] == "own_account", refused
    status, _ = await api.put("/api/users/oscar", auth=False, headers=headers, json={"disabled": True})
    assert status == 200


async def test_deleting_a_user_deletes_their_sessions_tokens_and_memberships(api: ApiClient) -> None:
    accounts = api.ctx.services.accounts
    await accounts.create_first_user("olivia", PASSWORD)
    mike = await accounts.create_user("mike", PASSWORD, role="member")
    await api.post("/api/teams/default/members", json={"user_id": mike.id, "role": "developer"})
    _token, raw = await accounts.create_token("ci", user=mike, created_by="user:mike")
    assert (await api.get("/api/users/me", auth=False, headers={"Authorization": f"Bearer {raw}"}))[0] == 200
    await as_user(api, "mike")
    api.client.cookie_jar.clear()
    _, reset = await api.post("/api/users/mike/password-reset")
    for table in ("user_sessions", "api_tokens", "team_members", "invitations"):
        assert db_rows(api, f"SELECT count(*) FROM {table} WHERE user_id = ?", mike.id) == [(1,)], table

    assert (await api.delete("/api/users/mike"))[0] == 204
    for table in ("user_sessions", "api_tokens", "team_members", "invitations"):  # ON DELETE CASCADE fired
        assert db_rows(api, f"SELECT count(*) FROM {table} WHERE user_id = ?", mike.id) == [(0,)], table
    assert (await api.get("/api/users/me", auth=False, headers={"Authorization": f"Bearer {raw}"}))[0] == 401
    assert (await api.post(f"/api/auth/reset/{reset['token']}", auth=False, json={"password": PASSWORD}))[
        0
    ] == 404
    assert (await api.get("/api/users/mike"))[0] == 404
    assert (await api.delete("/api/users/mike"))[0] == 404


async def test_a_password_reset_link_sets_the_password_once_and_ends_sessions(api: ApiClient) -> None:
    await api.ctx.services.accounts.create_first_user("olivia", PASSWORD)
    await api.ctx.services.accounts.create_user("mike", PASSWORD, role="member")
    headers = await as_user(api, "mike")
    status, reset = await api.post("/api/users/mike/password-reset")
    assert status == 201, reset
    token = reset["token"]
    assert token.startswith("rvt_rst_") and reset["url"].endswith(f"/reset/{token}")
    assert (reset["kind"], reset["username"]) == ("password_reset", "mike")
    _, pending = await api.get("/api/invitations")
    assert [(i["kind"], i["username"]) for i in pending["items"]] == [("password_reset", "mike")]
    # A newer link replaces the pending one.
    _, newer = await api.post("/api/users/mike/password-reset")
    assert (await api.post(f"/api/auth/reset/{token}", auth=False, json={"password": "x" * 12}))[0] == 404

    new_password = "a-brand-new-password"
    status, short = await api.post(
        f"/api/auth/reset/{newer['token']}", auth=False, json={"password": "short"}
    )
    assert status == 422 and field_of(short) == "password"
    reset_path = f"/api/auth/reset/{newer['token']}"
    assert (await api.post(reset_path, auth=False, json={"password": new_password}))[0] == 204
    assert (await api.get("/api/users/me", auth=False, headers=headers))[0] == 401  # the session ended
    assert (await login(api, "mike"))[0] == 401
    assert (await login(api, "mike", new_password))[0] == 200
    assert (await api.post(reset_path, auth=False, json={"password": "another-password-2"}))[0] == 404  # once

    db_write(api, "UPDATE invitations SET expires_at = '2020-01-01 00:00:00'")
    _, expiring = await api.post("/api/users/mike/password-reset")
    db_write(api, "UPDATE invitations SET expires_at = '2020-01-01 00:00:00' WHERE id = ?", expiring["id"])
    assert (await api.post(f"/api/auth/reset/{expiring['token']}", auth=False, json={"password": PASSWORD}))[
        0
    ] == 404
    assert (await api.post("/api/users/nobody/password-reset"))[0] == 404
    # An invitation's token is not a reset link, nor the other way round.
    _, invitation = await api.post(
        "/api/invitations", json={"team_id": "default", "role": "viewer", "username": "z"}
    )
    assert (
        await api.post(f"/api/auth/reset/{invitation['token']}", auth=False, json={"password": PASSWORD})
    )[0] == 401


async def test_an_admin_ends_every_session_of_a_user(api: ApiClient) -> None:
    await api.ctx.services.accounts.create_first_user("olivia", PASSWORD)
    await api.ctx.services.accounts.create_user("mike", PASSWORD, role="member")
    headers = await as_user(api, "mike")
    await login(api, "mike")  # a second session (rotates the cookie: the first one is ended by the login)
    status, ended = await api.post("/api/users/mike/sessions/revoke")
    assert status == 200 and ended == {"ended": 1}
    assert (await api.get("/api/users/me", auth=False, headers=headers))[0] == 401
    assert (await api.post("/api/users/mike/sessions/revoke"))[1] == {"ended": 0}


async def test_own_profile_rename(api: ApiClient) -> None:
    await api.ctx.services.accounts.create_first_user("olivia", PASSWORD)
    await api.ctx.services.accounts.create_user("mike", PASSWORD, role="member")
    headers = await as_user(api, "mike")
    status, me = await api.get("/api/users/me", auth=False, headers=headers)
    assert status == 200 and me["username"] == "mike"
    status, taken = await api.put("/api/users/me", auth=False, headers=headers, json={"username": "olivia"})
    assert status == 409 and field_of(taken) == "username"
    for name in ("no spaces", "me", "ME"):
        status, bad = await api.put("/api/users/me", auth=False, headers=headers, json={"username": name})
        assert status == 422 and field_of(bad) == "username", (name, bad)
    status, own = await api.delete("/api/users/me", auth=False, headers=headers)
    assert status == 409 and own["error"]["code"] == "own_account"
    status, renamed = await api.put(
        "/api/users/me", auth=False, headers=headers, json={"username": "michael"}
    )
    assert status == 200 and renamed["username"] == "michael" and renamed["id"] == me["id"]
    assert (await api.get("/api/users/me", auth=False, headers=headers))[1][
        "username"
    ] == "michael"  # still in
    assert (await login(api, "michael"))[0] == 200
    status, admin_token = await api.get("/api/users/me")
    assert status == 403, admin_token  # the admin token is no user


# ------------------------------------------------------------------------------------------------ who asks
def _as(server_role: str | None) -> Principal:
    return Principal("user:someone", team_role=None, server_role=server_role)


async def test_only_a_server_owner_changes_resets_or_removes_a_server_owner(api: ApiClient) -> None:
    from rivetr_core.accounts.invitations import InvitationService
    from rivetr_core.accounts.service import AccountError
    from rivetr_core.accounts.users import UserAdmin

    accounts = api.ctx.services.accounts
    await accounts.create_first_user("olivia", PASSWORD)
    await accounts.create_user("oscar", PASSWORD, role="admin")
    await accounts.create_user("mike", PASSWORD, role="member")
    users = UserAdmin(api.ctx.db, accounts)
    links = InvitationService(api.ctx.db, accounts)
    admin = _as("admin")
    refusals = [
        users.update(admin, None, "olivia", role="member"),
        users.update(admin, None, "olivia", disabled=True),
        users.update(admin, None, "mike", role="owner"),  # nor make one
        users.delete(admin, None, "olivia"),
        users.revoke_sessions(admin, "olivia"),
        links.create_reset(admin, "olivia"),  # else an admin could take the owner's account over
    ]
    for attempt in refusals:
        with pytest.raises(AccountError) as refused:
            await attempt
        assert (refused.value.status, refused.value.code) == (403, "owner_protected")
    # An admin manages everyone else.
    assert (await users.update(admin, None, "mike", role="admin"))["server_role"] == "admin"
    row, _raw = await links.create_reset(admin, "mike")
    assert row.username == "mike" and row.created_by == "user:someone"
    # An owner may change an owner (while another owner remains).
    owner = _as("owner")
    assert (await users.update(owner, None, "oscar", role="owner"))["is_server_owner"]
    assert (await users.update(owner, None, "olivia", role="admin"))["server_role"] == "admin"
    assert db_rows(api, "SELECT username FROM users WHERE is_server_owner") == [("oscar",)]


async def test_cookie_name_is_the_session_cookie(api: ApiClient) -> None:
    await api.ctx.services.accounts.create_first_user("olivia", PASSWORD)
    await as_user(api, "olivia")
    assert SESSION_COOKIE in {c.name for c in api.client.cookie_jar}
