"""Notification channels and their deliveries as the API shows them.

Each ``*_json`` builds its JSON through the matching model, so ``/openapi.json`` (which documents the models)
and what the server answers cannot drift apart. A channel's URL usually embeds credentials (a webhook token, a
password): only its scheme is ever shown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from rivetr_core.apimodel import ApiModel
from rivetr_core.db.engine import isoformat

if TYPE_CHECKING:
    from rivetr_core.models.ops import NotificationChannel, NotificationDelivery


def mask_url(url: str) -> str:
    """What the API shows of a channel URL: the scheme only (tokens hide in hosts, paths and queries)."""
    scheme, sep, _ = url.partition("://")
    return f"{scheme}://***" if sep else "***"


class NotificationRouteOut(ApiModel):
    project_id: str
    apps: list[str] = Field(description="The project's apps, services or stacks by name; empty = all.")
    events: list[str] = Field(description="Event types routed; empty = all.")


class ChannelOut(ApiModel):
    id: str
    name: str
    notifier: str = Field(description="Notifier plugin that delivers to this channel.")
    url: str = Field(description="Masked to its scheme (slack://***): the stored URL is never shown.")
    events: list[str] = Field(description="Event types delivered; empty = all.")
    enabled: bool
    routed_only: bool = Field(
        False, description="Receives only what projects route to it (not every event its events list allows)."
    )
    routes: list[NotificationRouteOut] = Field(
        default_factory=list,
        description="What projects route here (PUT /api/projects/{id}/notification-routes/{channel_id}).",
    )
    failures: int = Field(description="Failed deliveries in a row (a success resets it).")
    total_failures: int
    last_error: str | None = Field(description="The notifier's reason for the last failure.")
    last_success_at: str | None
    last_failure_at: str | None
    created_at: str
    updated_at: str


class DeliveryOut(ApiModel):
    id: str
    event_type: str
    status: Literal["pending", "delivered", "failed"] = Field(
        description="failed: every attempt failed (see error)."
    )
    attempts: int
    error: str | None
    created_at: str
    finished_at: str | None


class TestSentOut(ApiModel):
    ok: bool


def channel_json(row: NotificationChannel, secrets: Any) -> dict[str, Any]:
    """API form of a channel; ``url`` is masked to its scheme (``slack://***``)."""
    try:
        url = mask_url(secrets.decrypt(row.url_encrypted))
    except Exception:  # wrong key after a restore: say so rather than fail the whole listing
        url = "(cannot decrypt: encryption key changed?)"
    return ChannelOut.model_validate(
        {
            "id": row.id,
            "name": row.name,
            "notifier": row.notifier,
            "url": url,
            "events": row.events,
            "enabled": row.enabled,
            "routed_only": row.routed_only,
            "routes": row.routes,
            "failures": row.failures,
            "total_failures": row.total_failures,
            "last_error": row.last_error,
            "last_success_at": isoformat(row.last_success_at),
            "last_failure_at": isoformat(row.last_failure_at),
            "created_at": isoformat(row.created_at),
            "updated_at": isoformat(row.updated_at),
        }
    ).model_dump(mode="json")


def delivery_json(row: NotificationDelivery) -> dict[str, Any]:
    return DeliveryOut.model_validate(
        {
            "id": row.id,
            "event_type": row.event_type,
            "status": row.status,
            "attempts": row.attempts,
            "error": row.error,
            "created_at": isoformat(row.created_at),
            "finished_at": isoformat(row.finished_at),
        }
    ).model_dump(mode="json")
