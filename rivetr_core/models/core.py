"""Core tables: instance metadata and proxy routes (manual ones and those the pipeline sets for apps)."""

from __future__ import annotations

from datetime import datetime

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

    domain: str = Field(primary_key=True, max_length=253)
    upstreams: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    app_id: str | None = Field(default=None, index=True, max_length=64)
    #: Set for a route to a service of a compose stack (``app_id`` is then None).
    stack_id: str | None = Field(default=None, index=True, max_length=32)
    https_redirect: bool = False
    hsts: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
