"""Core tables: instance metadata and proxy routes (manual ones and those the pipeline sets for apps)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from rivetr_core.db.engine import utcnow


class Meta(SQLModel, table=True):
    __tablename__ = "meta"

    key: str = Field(primary_key=True, max_length=100)
    value: str


class ProxyRoute(SQLModel, table=True):
    """A host name routed by the proxy. ``app_id`` is set for app routes, ``stack_id`` for a stack's routed
    services, neither for manual ones."""

    __tablename__ = "proxy_routes"

    #: The route key: the domain, followed by the path prefix unless that is ``/`` (``api.example.com/v1``);
    #: :func:`rivetr_core.routepaths.split_key` parts it.
    domain: str = Field(primary_key=True, max_length=253)
    upstreams: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    app_id: str | None = Field(default=None, index=True, max_length=64)
    #: Set for a route to a service of a compose stack (``app_id`` is then None).
    stack_id: str | None = Field(default=None, index=True, max_length=32)
    https_redirect: bool = False
    hsts: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class RouteSettings(SQLModel, table=True):
    """What a route does besides forwarding, by route key (``example.com``, ``example.com/v1``), whoever owns
    the route (an app, a stack, a manual route): prefix stripping, ``www`` redirect, redirect rules, basic auth.

    The settings belong to the name, not to its owner: they survive a redeploy and a route's removal and
    re-creation. ``auth_users_enc`` is the encrypted JSON ``{user: bcrypt or argon2 hash}``."""

    __tablename__ = "route_settings"

    key: str = Field(primary_key=True, max_length=600)
    strip_prefix: bool = False
    redirect_www: str | None = Field(default=None, max_length=8)
    redirects: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    auth_realm: str | None = Field(default=None, max_length=200)
    auth_users_enc: str | None = None
    compression: bool = True  # response compression for this key (with [proxy] compression on)
    #: "http1" or "h2c": how the proxy talks to the upstreams of this key (h2c: HTTP/2 streams for gRPC).
    upstream_protocol: str = Field(default="http1", max_length=8)
    updated_at: datetime = Field(default_factory=utcnow)
