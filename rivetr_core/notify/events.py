"""Event types a notification channel can subscribe to (``RivetrEvent.type``)."""

from __future__ import annotations

EVENT_TYPES: tuple[str, ...] = (
    "deployment_started",
    "deployment_succeeded",
    "deployment_failed",
    "rollback",
    "post_deploy_failed",
    "container_crashed",
    "container_restarted",
    "container_moved",
    "app_stopped",
    "app_started",
    "app_restarted",
    "certificate_issued",
    "certificate_failed",
    "disk_warning",
    "backup_succeeded",
    "backup_failed",
    "restore_succeeded",
    "restore_failed",
    "task_failed",
)

#: Sent by ``POST /api/notification-channels/{id}/test``; not subscribable, always delivered to that channel.
TEST_EVENT = "test"


def check_events(events: list[str]) -> list[str]:
    """Deduplicate and validate a channel's subscription list (empty = every event)."""
    unknown = [e for e in events if e not in EVENT_TYPES]
    if unknown:
        raise ValueError(
            f"unknown event type(s) {', '.join(map(repr, unknown))}; known: {', '.join(EVENT_TYPES)}"
        )
    return list(dict.fromkeys(events))
