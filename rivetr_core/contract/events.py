"""Lifecycle events: what ``ctx.emit`` publishes and ``rivetr_on_event`` receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal


@dataclass
class RivetrEvent:
    """A lifecycle event. ``type`` examples: deployment_started, deployment_succeeded, deployment_failed,
    rollback, container_crashed, container_restarted, container_moved, app_stopped, app_started, app_restarted,
    certificate_issued, certificate_failed, disk_warning."""

    type: str
    message: str = ""
    app_id: str | None = None
    app_name: str | None = None
    deployment_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    ts: datetime = field(default_factory=lambda: datetime.now(UTC))
    level: Literal["info", "success", "warning", "failure"] = "info"
