"""``/notifications``: notification channels (where lifecycle events are sent), their recent deliveries and failures,
the add/edit form with a helper per common service, and Send test.

Reads go through the read-model (:mod:`rivetr_core.readmodels.notifications`: the API's own JSON, the URL masked to
its scheme); adding, editing, testing and deleting are REST calls from the browser (``/api/notification-channels``),
so the URL check and the error messages are exactly the API's. A stored URL is never sent back to the page: an
edit that leaves the URL fields empty keeps it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rivetr_core.readmodels import notifications as reads

from ..blueprint import bp, ctx, render

#: Channels a page lists (a handful in practice; the API and CLI page through more).
LISTED = 200
#: Deliveries shown per channel (newest first; the API and ``rivetr notifications deliveries`` page through all).
DELIVERIES_SHOWN = 10

#: The services the form builds a URL for from a few fields (notifications.js has the builders), by the key the
#: form's service choice uses, with the schemes their URLs start with; anything else is a raw URL.
HELPERS: list[dict[str, Any]] = [
    {"key": "webhook", "label": "Webhook (JSON POST)", "schemes": ["json", "jsons"]},
    {"key": "slack", "label": "Slack", "schemes": ["slack"]},
    {"key": "discord", "label": "Discord", "schemes": ["discord"]},
    {"key": "telegram", "label": "Telegram", "schemes": ["tgram"]},
    {"key": "email", "label": "E-mail (SMTP)", "schemes": ["mailto", "mailtos"]},
    {"key": "ntfy", "label": "ntfy", "schemes": ["ntfy", "ntfys"]},
    {"key": "gotify", "label": "Gotify", "schemes": ["gotify", "gotifys"]},
    {"key": "other", "label": "Other (any notifier URL)", "schemes": []},
]


def _service_label(scheme: str, notifiers: list[dict[str, Any]]) -> str:
    for helper in HELPERS:
        if scheme in helper["schemes"]:
            return str(helper["label"]).split(" (")[0]
    for notifier in notifiers:
        for service in notifier["schemes"]:
            if scheme in service["schemes"]:
                return str(service["service"])
    return scheme or "?"


def _when(value: str | None) -> datetime | None:
    """An API timestamp as the datetime the ``ago`` filter takes."""
    return datetime.fromisoformat(value) if value else None


async def _channels(notifiers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    channels = await reads.notification_channels(ctx(), limit=LISTED, deliveries=DELIVERIES_SHOWN)
    for channel in channels:
        for delivery in channel["deliveries"]:
            delivery["at"] = _when(delivery["finished_at"] or delivery["created_at"])
        channel["service"] = _service_label(channel["scheme"], notifiers)
        channel["helper"] = next((h["key"] for h in HELPERS if channel["scheme"] in h["schemes"]), "other")
        channel["last"] = channel["deliveries"][0] if channel["deliveries"] else None
    return channels


@bp.get("/notifications")
async def notifications() -> tuple[str, int]:
    notifiers = await reads.notifier_choices(ctx())
    return await render(
        "notifications.html",
        nav="notifications",
        channels=await _channels(notifiers),
        notifiers=notifiers,
        helpers=HELPERS,
        event_types=reads.EVENT_TYPES,
    )


@bp.get("/notifications/partials/channels")
async def notifications_channels() -> tuple[str, int]:
    notifiers = await reads.notifier_choices(ctx())
    return await render("partials/notification_channels.html", channels=await _channels(notifiers))
