"""Invitations (``/api/invitations``) through the real app and database: a one-time, expiring link stored only as
its sha256, public to whoever holds it, that creates a team member (no server role) and logs them in; who may invite
as what (a unit test of the rule with principals built by hand); the audit log never holds a pending link."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rivetr_core.accounts import credentials
from rivetr_core.accounts.web import SESSION_COOKIE
from rivetr_core.authz.permissions import Principal
from tests.support import at_rest
from tests.support.server import ApiClient, make_config

PASSWORD = "a-long-password-1"


def db_rows(api: ApiClient, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    return at_rest.query(api.ctx, sql, *args)


def db_write(api: ApiClient, sql: str, *args: Any) -> None:
    at_rest.execute(api.ctx, sql, *args)


def field_of(body: Any) -> str | None:
    details = body["error"]["details"]
    return details[0]["field"] if isinstance(details, list) and details else None


async def invite(api: ApiClient, **body: Any) -> dict[str, Any]:
    status, made = await api.post(
        "/api/invitations", json={"team_id": "default", "role": "developer", **body}
    )
    assert status == 201, made
    return made  # type: ignore[no-any-return]


async def test_an_invitation_link_is_shown_once_and_stored_hashed(api: ApiClient) -> None:
    _, team = await api.post("/api/teams", json={"name": "web"})
    made = await invite(api, email="dev@example.com", team_id=team["id"], role="admin")
    token = made["token"]
    assert token.startswith("rvt_inv_") and made["url"] == f"http://localhost/invite/{token}"
    assert (made["kind"], made["team_id"], made["team_name"], made["role"], made["email"]) == (
        "invite",
        team["id"],
        "web",
        "admin",
        "dev@example.com",
    )
    assert made["created_by"] == "admin" and made["expires_at"] > made["created_at"]
    # Only the sha256 is stored; the list never shows the token again.
    assert db_rows(api, "SELECT token_hash FROM invitations") == [(credentials.digest(token),)]
    status, listed = await api.get("/api/invitations")
    assert status == 200 and listed["next"] is None
    assert [i["id"] for i in listed["items"]] == [made["id"]] and token not in str(listed)

    # Public: whoever holds the link sees what it offers, without any credential.
    status, shown = await api.get(f"/api/invitations/{token}", auth=False)
    assert status == 200, shown
    assert (shown["team_name"], shown["role"], shown["email"], shown["kind"]) == (
        "web",
        "admin",
        "dev@example.com",
        "invite",
    )


async def test_the_link_uses_the_external_url(tmp_path: Path) -> None:
    from rivetr_core.app import create_app

    app = create_app(make_config(tmp_path / "data", server={"external_url": "https://paas.example.com/"}))
    async with app.test_app():
        made = await invite(ApiClient(app), username="carol")
        assert made["url"] == f"https://paas.example.com/invite/{made['token']}"


async def test_accepting_creates_a_member_logs_in_and_works_once(api: ApiClient) -> None:
    made = await invite(api, username="dave", role="viewer")
    token = made["token"]
    status, body = await api.post(
        f"/api/invitations/{token}/accept", auth=False, json={"username": "dave", "password": PASSWORD}
    )
    assert status == 201, body
    user = body["user"]
    assert user["username"] == "dave" and body["csrf_token"]
    assert any(c.name == SESSION_COOKIE for c in api.client.cookie_jar)
    # The session works: the cookie plus the CSRF token.
    status, me = await api.get("/api/users/me", auth=False, headers={"X-CSRF-Token": body["csrf_token"]})
    assert status == 200 and me["username"] == "dave", me
    _, shown = await api.get("/api/users/dave")
    assert (shown["role"], shown["server_role"], shown["is_server_owner"]) == ("member", None, False)
    assert [(t["team_id"], t["role"]) for t in shown["teams"]] == [("default", "viewer")]

    # One-time: a second use, a look, and the pending list all say it is gone.
    status, again = await api.post(
        f"/api/invitations/{token}/accept", auth=False, json={"username": "dave2", "password": PASSWORD}
    )
    assert status == 404 and again["error"]["code"] == "not_found"
    assert (await api.get(f"/api/invitations/{token}", auth=False))[0] == 404
    assert (await api.get("/api/invitations"))[1]["items"] == []
    assert (await api.get("/api/users/dave2"))[0] == 404


async def test_a_taken_name_or_a_bad_password_leaves_the_link_usable(api: ApiClient) -> None:
    await api.ctx.services.accounts.create_user("erin", PASSWORD)
    token = (await invite(api, email="erin2@example.com"))["token"]
    accept = f"/api/invitations/{token}/accept"
    status, taken = await api.post(accept, auth=False, json={"username": "erin", "password": PASSWORD})
    assert status == 409 and field_of(taken) == "username"
    status, short = await api.post(accept, auth=False, json={"username": "erin2", "password": "short"})
    assert status == 422 and field_of(short) == "password"
    for name in ("no spaces", "me"):  # "me" is /api/users/me
        status, bad_name = await api.post(accept, auth=False, json={"username": name, "password": PASSWORD})
        assert status == 422 and field_of(bad_name) == "username", bad_name
    status, missing = await api.post(accept, auth=False, json={"username": "erin2"})
    assert status == 422 and "password" in str(missing["error"]["details"])
    assert (await api.post(accept, auth=False, json={"username": "erin2", "password": PASSWORD}))[0] == 201


async def test_expired_unknown_and_revoked_links_are_404(api: ApiClient) -> None:
    expired = await invite(api, username="frank")
    db_write(api, "UPDATE invitations SET expires_at = '2020-01-01 00:00:00' WHERE id = ?", expired["id"])
    for token in (expired["token"], "rvt_inv_" + "x" * 43):
        assert (await api.get(f"/api/invitations/{token}", auth=False))[0] == 404
        status, body = await api.post(
            f"/api/invitations/{token}/accept", auth=False, json={"username": "frank", "password": PASSWORD}
        )
        assert status == 404 and body["error"]["code"] == "not_found"
    assert (await api.get("/api/invitations"))[1]["items"] == []  # an expired link is not pending

    revoked = await invite(api, username="grace")
    assert (await api.delete(f"/api/invitations/{revoked['token']}"))[0] == 404  # revoked by id, not token
    assert (await api.delete(f"/api/invitations/{revoked['id']}"))[0] == 204
    assert (await api.get(f"/api/invitations/{revoked['token']}", auth=False))[0] == 404
    assert (await api.delete(f"/api/invitations/{revoked['id']}"))[0] == 404


async def test_only_the_links_own_routes_are_public(api: ApiClient) -> None:
    made = await invite(api, username="heidi")
    # The list, making and revoking need a credential, even on a token-shaped path.
    for method, path in (
        ("GET", "/api/invitations"),
        ("POST", "/api/invitations"),
        ("DELETE", f"/api/invitations/{made['id']}"),
        ("DELETE", f"/api/invitations/{made['token']}"),
        ("GET", "/api/invitations/not-a-token"),
    ):
        status, body = await api.request(method, path, auth=False)
        assert status == 401, (method, path, body)
    assert (await api.get(f"/api/invitations/{made['token']}", auth=False))[0] == 200


async def test_bad_invitations_are_refused_naming_the_field(api: ApiClient) -> None:
    cases = [
        ({"team_id": "default", "role": "god", "username": "x"}, 422, "role"),
        ({"team_id": "nope", "role": "viewer", "username": "x"}, 404, "team_id"),
        ({"team_id": "default", "role": "viewer"}, 422, None),
        ({"team_id": "default", "role": "viewer", "email": "not-an-email"}, 422, "email"),
        (
            {"team_id": "default", "role": "viewer", "username": "x", "expires_in_hours": 0},
            422,
            "expires_in_hours",
        ),
        ({"team_id": "default", "role": "viewer", "username": "x", "extra": 1}, 422, "extra"),
        ({"team_id": "default", "role": "viewer", "username": "bad name"}, 422, "username"),
    ]
    for body, status, field in cases:
        got, answer = await api.post("/api/invitations", json=body)
        assert got == status, (body, answer)
        if field:
            assert field in str(answer["error"]["details"]), (body, answer)
    await api.ctx.services.accounts.create_user("ivan", PASSWORD)
    status, taken = await api.post(
        "/api/invitations", json={"team_id": "default", "role": "viewer", "username": "ivan"}
    )
    assert status == 409 and field_of(taken) == "username"
    assert db_rows(api, "SELECT count(*) FROM invitations") == [(0,)]


async def test_a_short_expiry_is_kept(api: ApiClient) -> None:
    made = await invite(api, username="judy", expires_in_hours=1)
    from datetime import datetime

    created = datetime.fromisoformat(made["created_at"].rstrip("Z"))
    expires = datetime.fromisoformat(made["expires_at"].rstrip("Z"))
    assert 3599 <= (expires - created).total_seconds() <= 3601


async def test_the_audit_log_never_holds_a_pending_link(api: ApiClient) -> None:
    token = (await invite(api, username="ken"))["token"]
    await api.post(
        f"/api/invitations/{token}/accept", auth=False, json={"username": "ken", "password": "short"}
    )
    await api.get(f"/api/invitations/{token}", auth=False)
    _, audit = await api.get("/api/audit?action=invitations_api.")
    actions = [e["action"] for e in audit["items"]]
    assert "invitations_api.accept_invitation" in actions and "invitations_api.create_invitation" in actions
    assert token not in str(audit) and token not in str(db_rows(api, "SELECT * FROM audit_log"))
    accepted = [e for e in audit["items"] if e["action"] == "invitations_api.accept_invitation"]
    assert [(e["status"], e["actor"], e["target"]) for e in accepted] == [
        (422, "anonymous", {"invitation": "(redacted)"})
    ]
    assert accepted[0]["path"] == "/api/invitations/(redacted)/accept"
    await api.post(
        f"/api/invitations/{token}/accept", auth=False, json={"username": "ken", "password": PASSWORD}
    )
    _, audit = await api.get("/api/audit?action=invitations_api.accept")
    assert (audit["items"][0]["status"], audit["items"][0]["actor"]) == (201, "user:ken")


# ------------------------------------------------------------------------------------------------ who may invite
def _principal(team_role: str | None, server_role: str | None = None, **extra: Any) -> Principal:
    return Principal("user:someone", team_role=team_role, server_role=server_role, **extra)


@pytest.mark.parametrize(
    ("principal", "role", "allowed"),
    [
        (_principal("owner"), "owner", True),
        (_principal("admin"), "owner", False),  # an admin manages members except owners
        (_principal("admin"), "admin", True),
        (_principal(None, "admin"), "owner", True),  # a server admin may do anything to any team
        (_principal(None, "owner"), "owner", True),
    ],
)
def test_only_a_team_owner_or_a_server_admin_invites_an_owner(
    principal: Principal, role: str, allowed: bool
) -> None:
    from rivetr_core.accounts.invitations import check_may_invite
    from rivetr_core.accounts.service import AccountError

    if allowed:
        check_may_invite(principal, "team1", role)
    else:
        with pytest.raises(AccountError) as refused:
            check_may_invite(principal, "team1", role)
        assert refused.value.status == 403 and refused.value.field == "role"


def test_another_teams_invitation_is_invisible_or_refused() -> None:
    from rivetr_core.accounts.invitations import check_may_invite
    from rivetr_core.accounts.service import AccountError
    from rivetr_core.contract.errors import NotFound

    if "team_ids" not in Principal.__dataclass_fields__:
        pytest.skip("principals carry no team yet")
    outsider = _principal("owner", team_id="team1", team_ids=frozenset({"team1", "team2"}))
    with pytest.raises(NotFound):
        check_may_invite(outsider, "team3", "viewer")
    with pytest.raises(AccountError) as other_team:
        check_may_invite(outsider, "team2", "viewer")
    assert other_team.value.status == 403
    check_may_invite(outsider, "team1", "owner")


async def test_an_admin_of_a_team_cannot_invite_an_owner_through_the_service(api: ApiClient) -> None:
    from rivetr_core.accounts.invitations import InvitationService
    from rivetr_core.accounts.service import AccountError

    links = InvitationService(api.ctx.db, api.ctx.services.accounts)
    with pytest.raises(AccountError):
        await links.create_invitation(_principal("admin"), team_id="default", role="owner", username="x")
    row, raw, team = await links.create_invitation(
        _principal("owner"), team_id="default", role="owner", username="x"
    )
    assert team == "default" and row.created_by == "user:someone" and raw.startswith("rvt_inv_")


async def test_two_simultaneous_accepts_make_exactly_one_account(api: ApiClient) -> None:
    import asyncio

    token = (await invite(api, username="twin"))["token"]
    accept = f"/api/invitations/{token}/accept"
    answers = await asyncio.gather(
        *(
            api.post(accept, auth=False, json={"username": name, "password": PASSWORD})
            for name in ("twin1", "twin2")
        )
    )
    assert sorted(status for status, _ in answers) == [201, 404], answers
    assert db_rows(api, "SELECT count(*) FROM users WHERE username LIKE 'twin%'") == [(1,)]
    assert db_rows(
        api,
        "SELECT count(*) FROM team_members m JOIN users u ON u.id = m.user_id WHERE u.username LIKE 'twin%'",
    ) == [(1,)]


async def test_redeeming_one_time_links_counts_in_the_login_rate_limit(config_factory: Any) -> None:
    """Guessing invitation or reset tokens is guessing credentials: the small login bucket counts those POSTs,
    through the API and the dashboard's link pages alike."""
    from rivetr_core.app import create_app

    app = create_app(config_factory(rate_limit={"enabled": True, "login_per_minute": 3}))
    async with app.test_app():
        api = ApiClient(app)
        guesses = [
            ("/api/invitations/rvt_inv_guess1/accept", {"json": {"username": "eve", "password": "x" * 12}}),
            ("/api/auth/reset/rvt_rst_guess2", {"json": {"password": "x" * 12}}),
            ("/invite/rvt_inv_guess3", {"form": {"username": "eve", "password": "x" * 12}}),
            ("/reset/rvt_rst_guess4", {"form": {"password": "x" * 12}}),
        ]
        statuses = [(await api.post(path, auth=False, **kw))[0] for path, kw in guesses]
        assert 429 not in statuses[:3] and statuses[3] == 429, statuses
        # Other calls keep the general bucket.
        status, _ = await api.get("/api/apps")
        assert status == 200
