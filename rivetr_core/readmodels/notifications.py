"""Notification channels as the API shows them (URL masked to its scheme), each with its latest deliveries, and the
notifiers installed with the URL schemes they reach: what the dashboard's Notifications page lists.

:data:`EVENT_TYPES` are the events a channel may subscribe to (what the API accepts). Read through
``ctx.services.notifications`` (the API's own service and JSON), so the page shows exactly what
``GET /api/notification-channels`` and ``.../deliveries`` answer. Nothing here writes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from rivetr_core.notify.events import EVENT_TYPES

if TYPE_CHECKING:
    from rivetr_core.context import RivetrContext

__all__ = ["EVENT_TYPES", "notification_channels", "notifier_choices"]

log = logging.getLogger("rivetr.notify")


async def notification_channels(ctx: RivetrContext, *, limit: int, deliveries: int) -> list[dict[str, Any]]:
    """The first ``limit`` channels (creation order) as the API's JSON plus ``scheme`` (what the masked URL
    starts with) and ``deliveries``: the newest ``deliveries`` of each, newest first. [] while the notification
    service is not running."""
    service = ctx.services.get("notifications")
    if service is None:
        return []
    from rivetr_core.notify.responses import channel_json, delivery_json
    from rivetr_core.pagination import PageQuery

    rows, _next = await service.page(PageQuery(limit=limit))
    channels = []
    for row in rows:
        channel = channel_json(row, ctx.secrets)
        scheme, sep, _ = channel["url"].partition("://")
        channel["scheme"] = scheme.lower() if sep else ""
        recent, _more = await service.deliveries(row.id, PageQuery(limit=deliveries))
        channel["deliveries"] = [delivery_json(d) for d in recent]
        channels.append(channel)
    return channels


async def notifier_choices(ctx: RivetrContext) -> list[dict[str, Any]]:
    """Every installed notifier: ``{"name", "description", "schemes"}``, where ``schemes`` lists the services it
    reaches (``{"service", "schemes", "setup_url"}``) when the notifier tells (an optional ``schemes()``
    method, as the apprise notifier has), else []."""
    choices = []
    for name, registration in sorted(ctx.plugins.notifiers().items()):
        schemes: list[dict[str, Any]] = []
        try:
            notifier = registration.factory(ctx.plugin_context())
            describe = getattr(notifier, "schemes", None)
            if callable(describe):
                # The first call may inspect a whole library (apprise: ~0.4 s): off the event loop.
                schemes = list(await asyncio.to_thread(describe))
        except Exception:  # a broken notifier still gets listed: its channels say why they fail
            log.exception("notifier %s could not describe its URL schemes", name)
        choices.append({"name": name, "description": registration.description, "schemes": schemes})
    return choices
