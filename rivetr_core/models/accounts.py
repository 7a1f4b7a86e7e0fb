"""Accounts: dashboard users, their sessions and API tokens.

Credentials are never stored in a usable form: passwords as argon2id hashes, session ids and API tokens as the
sha256 of a 256-bit random value (a leaked database row cannot be replayed as a cookie or bearer token).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from rivetr_core.db.engine import new_id, utcnow


class User(SQLModel, table=True):
    """A dashboard/API user. Every user is an admin for now (``role`` leaves room for less): ``role`` is the
    server-wide role (``admin`` today), team roles live in ``team_members`` (:mod:`.teams`)."""

    __tablename__ = "users"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    username: str = Field(index=True, unique=True, max_length=64)
    password_hash: str = Field(max_length=255)
    role: str = Field(default="admin", max_length=20)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime | None = None
    #: A disabled user can no longer log in or use tokens (enforced with the permission checks, issue 20).
    disabled: bool = False
    #: Server owners hold every right on the server and every team, and only another owner may demote or remove
    #: one. A flag beside ``role`` rather than a new role value: ``role`` already says admin for every existing
    #: user, and ownership is an extra protection on top of the server role, not a rung of it.
    is_server_owner: bool = False
    #: Whether a confirmed TOTP secret exists (rivetr_core.models.two_factor): kept here so the per-request
    #: principal, which already has the user row, never queries another table to apply a team's require_2fa.
    two_factor_enabled: bool = False


class UserSession(SQLModel, table=True):
    """A dashboard login. The cookie carries the raw id; only its sha256 is stored. Deleted on logout."""

    __tablename__ = "user_sessions"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    token_hash: str = Field(index=True, unique=True, max_length=64)
    user_id: str = Field(foreign_key="users.id", ondelete="CASCADE", index=True, max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    last_seen_at: datetime = Field(default_factory=utcnow)
    ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=255)
    #: The team the dashboard acts in (its team switcher); None: the user's only team, or every team for a
    #: server owner/admin.
    current_team_id: str | None = Field(default=None, max_length=32)


class ApiToken(SQLModel, table=True):
    """A bearer token for the API and CLI. Shown once at creation; revoking deletes the row."""

    __tablename__ = "api_tokens"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    name: str = Field(max_length=100)
    token_hash: str = Field(index=True, unique=True, max_length=64)
    prefix: str = Field(max_length=16)  # first characters, so a user can tell tokens apart
    user_id: str | None = Field(
        default=None, foreign_key="users.id", ondelete="CASCADE", index=True, max_length=32
    )
    created_by: str = Field(default="admin", max_length=100)
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None
    expires_at: datetime | None = None
    #: Comma-separated scopes (rivetr_core.authz.permissions.SCOPES); tokens made before scopes are ``admin``.
    scopes: str = Field(default="admin", max_length=100)
    #: The team the token acts in; None: its user's only team, or every team for a server owner/admin.
    team_id: str | None = Field(default=None, max_length=32)
    #: Restriction to some apps / projects (ids); None: no restriction. Other resources are invisible (404).
    app_ids: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    project_ids: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
