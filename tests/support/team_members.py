"""Real team credentials for tests: a user (no server role) who is a member of a team, logged in through the
API, and an API token that user makes for the team (``POST /api/tokens``), so requests carry the Principal the
server itself resolves (acting team, role, scopes, restrictions)."""

from __future__ import annotations

from typing import Any

from tests.support.server import ApiClient

PASSWORD = "a-long-password-1"


async def member_token(
    api: ApiClient,
    username: str,
    team_id: str,
    role: str,
    *,
    scopes: tuple[str, ...] = ("admin",),
    **token: Any,
) -> str:
    """A new user ``username`` with ``role`` in ``team_id``, and a bearer token of theirs for that team
    (``token``: more fields of ``POST /api/tokens``, e.g. ``app_ids``)."""
    await api.ctx.services.accounts.create_user(username, PASSWORD, role="member")
    status, body = await api.post(f"/api/teams/{team_id}/members", json={"username": username, "role": role})
    assert status == 201, body
    client = api.app.test_client()  # its own cookie jar: the user's session
    response = await client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, await response.get_data(as_text=True)
    csrf = (await response.get_json())["csrf_token"]
    response = await client.post(
        "/api/tokens",
        headers={"X-CSRF-Token": csrf},
        json={"name": f"{username}-token", "scopes": list(scopes), "team_id": team_id, **token},
    )
    created = await response.get_json()
    assert response.status_code == 201, created
    return str(created["token"])


def bearer(token: str) -> dict[str, Any]:
    """``ApiClient`` keyword arguments that send ``token`` instead of the admin token."""
    return {"auth": False, "headers": {"Authorization": f"Bearer {token}"}}
