"""Operations tables: notification channels and their deliveries, the audit log, sampled metrics.

No foreign key to ``apps``: samples and audit rows must outlive the app they describe (an operator reads the
audit of a deleted app), and keeping the ``ops`` migration branch independent of the apps branch lets either
land first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from rivetr_core.db.engine import new_id, utcnow


class NotificationChannel(SQLModel, table=True):
    """A destination for events. ``url_encrypted`` is the apprise URL sealed by ``ctx.secrets`` (it usually
    embeds a token or password); ``events`` empty means every event type."""

    __tablename__ = "notification_channels"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    name: str = Field(max_length=100, unique=True)
    notifier: str = Field(default="apprise", max_length=50)
    url_encrypted: str
    events: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    enabled: bool = True
    #: ``[{"project_id", "apps", "events"}]``: what projects route here (rivetr_core.notify.routes).
    routes: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    #: Only what routes send (a project's channel), not every event ``events`` allows.
    routed_only: bool = False
    failures: int = 0  # consecutive failed deliveries (reset by a success)
    total_failures: int = 0
    last_error: str | None = None
    last_success_at: datetime | None = None
    last_failure_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class NotificationDelivery(SQLModel, table=True):
    """One event to one channel: ``pending`` → ``delivered`` | ``failed`` (after every retry)."""

    __tablename__ = "notification_deliveries"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    channel_id: str = Field(
        foreign_key="notification_channels.id", index=True, max_length=32, ondelete="CASCADE"
    )
    event_type: str = Field(max_length=64)
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    error: str | None = None
    created_at: datetime = Field(default_factory=utcnow, index=True)
    finished_at: datetime | None = None


class AuditEntry(SQLModel, table=True):
    """One mutating API call or login attempt. Never holds a request body."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_ts", "ts"), Index("ix_audit_log_actor_ts", "actor", "ts"))

    id: int | None = Field(default=None, primary_key=True)
    ts: datetime = Field(default_factory=utcnow)
    actor: str = Field(max_length=200)
    action: str = Field(max_length=200, index=True)
    method: str = Field(max_length=10)
    route: str = Field(max_length=300)
    path: str = Field(max_length=500)
    target: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: int
    client: str = Field(max_length=100)
    request_id: str | None = Field(default=None, max_length=64)
    #: The team the request acted in (None: server-wide, or before teams): team admins read their team's log.
    team_id: str | None = Field(default=None, max_length=32, index=True)
    #: What an entry not written by a request changed (a deployment's rivetr.toml: ``port 8000 -> 8080``); a
    #: request's entry has none (its body is never stored).
    changes: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class MetricSample(SQLModel, table=True):
    """A resource sample. ``scope`` is ``app`` (``app_id`` set, summed over the app's containers) or ``host``;
    ``resolution`` is ``raw`` or ``1h`` (hourly averages made from raw samples past their retention)."""

    __tablename__ = "metric_samples"
    __table_args__ = (Index("ix_metric_samples_scope_app_ts", "scope", "app_id", "ts"),)

    id: int | None = Field(default=None, primary_key=True)
    ts: datetime = Field(default_factory=utcnow)
    scope: str = Field(max_length=10)
    app_id: str | None = Field(default=None, max_length=64)
    resolution: str = Field(default="raw", max_length=8)
    cpu_percent: float = 0.0
    memory_used: int = 0
    memory_limit: int = 0
    net_rx: int = 0
    net_tx: int = 0
    disk_percent: float | None = None
    containers: int = 0
