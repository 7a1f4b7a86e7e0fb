"""Users, sessions and API tokens as the API and the dashboard show them.

Each ``*_json`` builds its JSON through the matching model, so ``/openapi.json`` (which documents the models)
and what the server answers cannot drift apart. None of them carries a secret: a password hash, a session's
cookie value or a token's value never leaves the service (a new token's value is added once, at creation).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from rivetr_core.apimodel import ApiModel
from rivetr_core.db.engine import isoformat

from .devices import device_name

if TYPE_CHECKING:
    from rivetr_core.models.accounts import ApiToken, User, UserSession


class UserOut(ApiModel):
    id: str
    username: str
    role: str = Field(description="Every user is an administrator today: admin.")
    created_at: str
    last_login_at: str | None


class SessionOut(ApiModel):
    id: str = Field(description="Public id of the session (DELETE /api/auth/sessions/{id}); not the cookie.")
    username: str
    created_at: str
    expires_at: str
    last_seen_at: str = Field(description="Last request of the session; updated at most once a minute.")
    ip: str | None = Field(description="Client address at login.")
    user_agent: str | None
    device: str = Field(description="Browser and system read from the user agent, e.g. 'Firefox on Linux'.")
    current: bool = Field(description="The session making this request.")


class TokenOut(ApiModel):
    id: str
    name: str
    prefix: str = Field(description="First characters of the token, to recognise it; never the whole value.")
    created_by: str = Field(
        description="Principal that created it: admin, user:<name>, token:<owner>/<name>."
    )
    created_at: str
    last_used_at: str | None = Field(description="Updated at most once a minute.")
    expires_at: str | None = Field(description="Null: never expires.")
    user_id: str | None = Field(description="Its user; null: made with the admin token (a server owner).")
    scopes: list[str] = Field(
        description="read, deploy, write, admin: what it may do within its user's role."
    )
    team_id: str | None = Field(description="The team it acts in; null: its user's team (or every team).")
    app_ids: list[str] | None = Field(description="Only these apps; null: no restriction.")
    project_ids: list[str] | None = Field(description="Only these projects; null: no restriction.")


class NewTokenOut(TokenOut):
    token: str = Field(description="The token's value: shown this once, store it now (Bearer <token>).")


class LoginOut(ApiModel):
    user: UserOut
    csrf_token: str = Field(description="Send as X-CSRF-Token with every /api/* call made with the cookie.")
    expires_at: str = Field(description="When the session ends (log in again).")


class AuthStatusOut(ApiModel):
    setup_required: bool = Field(description="No user exists yet: POST /api/auth/setup first.")
    authenticated: bool
    via: Literal["session", "admin_token", "api_token"] | None = Field(
        description="Which credential the request carried; null when none was valid."
    )
    user: UserOut | None = Field(description="The caller (null for the admin token and admin-owned tokens).")
    min_password_length: int


def user_json(user: User) -> dict[str, Any]:
    return UserOut.model_validate(
        {
            "id": user.id,
            "username": user.username,
            "role": user.role,
            "created_at": isoformat(user.created_at),
            "last_login_at": isoformat(user.last_login_at),
        }
    ).model_dump(mode="json")


def session_json(session: UserSession, username: str, current: bool = False) -> dict[str, Any]:
    return SessionOut.model_validate(
        {
            "id": session.id,
            "username": username,
            "created_at": isoformat(session.created_at),
            "expires_at": isoformat(session.expires_at),
            "last_seen_at": isoformat(session.last_seen_at),
            "ip": session.ip,
            "user_agent": session.user_agent,
            "device": device_name(session.user_agent),
            "current": current,
        }
    ).model_dump(mode="json")


def token_json(token: ApiToken) -> dict[str, Any]:
    return TokenOut.model_validate(
        {
            "id": token.id,
            "name": token.name,
            "prefix": token.prefix,
            "created_by": token.created_by,
            "created_at": isoformat(token.created_at),
            "last_used_at": isoformat(token.last_used_at),
            "expires_at": isoformat(token.expires_at),
            "user_id": token.user_id,
            "scopes": [s for s in (token.scopes or "").split(",") if s],
            "team_id": token.team_id,
            "app_ids": token.app_ids,
            "project_ids": token.project_ids,
        }
    ).model_dump(mode="json")


def new_token_json(token: ApiToken, raw: str) -> dict[str, Any]:
    """A token just created, with its value (the only time it is shown)."""
    return NewTokenOut.model_validate({**token_json(token), "token": raw}).model_dump(mode="json")
