"""Real users with real team roles for permission tests: users made by the account service (server role
``member``: none), memberships added through the teams API, and credentials the way clients get them (a dashboard
session by ``POST /api/auth/login``, or an API token by ``POST /api/tokens``).

* ``await make_team(api, "acme")`` → the team's JSON (made with the admin token).
* ``await member(api, team, "dev", "developer")`` → a :class:`Member` logged in with its own test client: use
  ``await m.get(path)`` / ``m.post`` ... (cookie + CSRF header), and ``await m.token(["deploy"])`` for a bearer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.support.server import ApiClient, Verbs

PASSWORD = "a-long-password-for-roles"


@dataclass
class Member(Verbs):
    """A logged-in user: its own test client (cookie jar) and CSRF token."""

    name: str
    user_id: str
    client: ApiClient
    csrf: str
    headers: dict[str, str] = field(default_factory=dict)

    async def request(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        headers = {"X-CSRF-Token": self.csrf, **self.headers, **kw.pop("headers", {})}
        return await self.client.request(method, path, auth=False, headers=headers, **kw)

    async def token(self, scopes: list[str], **body: Any) -> dict[str, Any]:
        status, created = await self.post(
            "/api/tokens", json={"name": f"{self.name}-{'-'.join(scopes)}", "scopes": scopes, **body}
        )
        assert status == 201, created
        return created  # type: ignore[no-any-return]


def bearer(token: dict[str, Any] | str) -> dict[str, str]:
    raw = token["token"] if isinstance(token, dict) else token
    return {"Authorization": f"Bearer {raw}"}


async def make_team(api: ApiClient, name: str, **fields: Any) -> dict[str, Any]:
    status, team = await api.post("/api/teams", json={"name": name, **fields})
    assert status == 201, team
    return team  # type: ignore[no-any-return]


async def login(api: ApiClient, name: str) -> Member:
    client = ApiClient(api.app)
    status, body = await client.post(
        "/api/auth/login", auth=False, json={"username": name, "password": PASSWORD}
    )
    assert status == 200, body
    return Member(name, body["user"]["id"], client, body["csrf_token"])


async def member(
    api: ApiClient, team: dict[str, Any] | None, name: str, role: str, *, server_role: str = "member"
) -> Member:
    """A new user ``name`` (server role ``server_role``: "member" has none, "admin" is a server admin), with
    ``role`` in ``team`` (None: no team), logged in."""
    await api.ctx.services.accounts.create_user(name, PASSWORD, role=server_role)
    if team is not None:
        status, added = await api.post(
            f"/api/teams/{team['id']}/members", json={"username": name, "role": role}
        )
        assert status == 201, added
    return await login(api, name)


async def set_user(api: ApiClient, name: str, **columns: Any) -> None:
    """Change a user's row directly (what an administrator's action would store), and forget verified tokens so
    the next request sees it."""
    from sqlmodel import select

    from rivetr_core.models.accounts import User

    async with api.ctx.db.session() as s:
        user = (await s.exec(select(User).where(User.username == name))).one()
        for key, value in columns.items():
            setattr(user, key, value)
        s.add(user)
        await s.commit()
    api.ctx.services.accounts.forget_verified_tokens()
