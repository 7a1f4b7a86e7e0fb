"""A project's notification routes as ``GET /api/projects/{id}/notification-routes`` answers them, and the
channels it could route to (id, name, routed_only; never a URL): what the project page's Notifications panel
lists. Nothing here writes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rivetr_core.notify.events import EVENT_TYPES

if TYPE_CHECKING:
    from rivetr_core.context import RivetrContext

__all__ = ["EVENT_TYPES", "project_notification_routes"]


async def project_notification_routes(ctx: RivetrContext, project_id: str) -> dict[str, Any]:
    """``{"routes": [route JSON, by channel name], "channels": [{"id", "name", "routed_only"}]}``; both empty
    while the notification service is not running."""
    if ctx.services.get("notifications") is None:
        return {"routes": [], "channels": []}
    from rivetr_core.notify.routes import RouteService, route_json

    pairs = await RouteService(ctx).for_project(project_id)
    channels = await ctx.services.notifications.list_channels()
    return {
        "routes": [route_json(c, r) for c, r in sorted(pairs, key=lambda p: p[0].name)],
        "channels": [{"id": c.id, "name": c.name, "routed_only": c.routed_only} for c in channels],
    }
