"""One Rivetr event → one apprise notification.

apprise is synchronous (it does its own HTTP/SMTP I/O) and never raises on a failed delivery: ``notify()``
returns a falsy ``AppriseResult``. We run it in a worker thread and turn a falsy result into
:class:`NotificationFailed` carrying apprise's own log lines, because core's delivery worker retries and
records failures only when ``send`` raises. apprise is imported lazily: the control plane pays its import
cost (~3 MB) only once a channel actually sends.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

from rivetr_core.contract import RivetrError, RivetrEvent

#: Seconds apprise may spend on one delivery (connect + send); core's retry policy handles the rest.
DEFAULT_TIMEOUT = 10.0


class NotificationFailed(RivetrError):
    code = "notification_failed"
    status = 502


def format_title(event: RivetrEvent) -> str:
    subject = event.app_name or event.app_id
    label = event.type.replace("_", " ")
    return f"[Rivetr] {subject}: {label}" if subject else f"[Rivetr] {label}"


def format_body(event: RivetrEvent) -> str:
    lines = [event.message or event.type.replace("_", " ")]
    if event.deployment_id:
        lines.append(f"deployment: {event.deployment_id}")
    for key, value in sorted(event.data.items()):
        if isinstance(value, (str, int, float, bool)) and len(str(value)) <= 500:
            lines.append(f"{key}: {value}")
    return "\n".join(lines)


class AppriseNotifier:
    """The ``apprise`` notifier. Stateless: every ``send`` builds its own ``Apprise`` object (thread-safe)."""

    name = "apprise"

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT, logger: logging.Logger | None = None) -> None:
        self.timeout = timeout
        self.log = logger or logging.getLogger("rivetr.notify.apprise")

    def validate(self, url: str) -> str | None:
        """None when apprise understands ``url``, else a message for the API's 422."""
        import apprise

        if not apprise.Apprise().add(url):
            return "not a URL apprise understands (see https://github.com/caronc/apprise/wiki)"
        return None

    def schemes(self) -> list[dict[str, Any]]:
        """The services this notifier reaches, for people choosing a URL (the dashboard's Notifications page):
        ``{"service", "schemes", "setup_url"}`` per apprise service usable on this host, by service name."""
        return _apprise_schemes()

    async def send(self, url: str, event: RivetrEvent) -> None:
        """Deliver ``event`` to ``url``; raise :class:`NotificationFailed` with apprise's reason."""
        await asyncio.to_thread(self._send_blocking, url, event)

    def _send_blocking(self, url: str, event: RivetrEvent) -> None:
        import apprise

        client = apprise.Apprise()
        if not client.add(url):
            raise NotificationFailed("not a URL apprise understands")
        messages: list[str] = []

        def _collect(entry: Any, _service: Any = None) -> None:
            # apprise's log lines name the host but never the credentials in the URL.
            if getattr(entry, "level", "") in ("WARNING", "ERROR", "CRITICAL"):
                messages.append(str(getattr(entry, "message", entry)))

        result = client.notify(
            body=format_body(event),
            title=format_title(event),
            notify_type=_notify_type(event.level),
            timeout=self.timeout,
            log_callback=_collect,
        )
        if not result:
            reason = "; ".join(messages[-3:]) or "apprise reported a failed delivery"
            raise NotificationFailed(reason[:1000])


@functools.cache
def _apprise_schemes() -> list[dict[str, Any]]:
    # apprise.details() inspects every plugin (~0.4 s): once per process; the installed set cannot change.
    import apprise

    found = []
    for schema in apprise.Apprise().details()["schemas"]:
        schemes = [*(schema.get("protocols") or ()), *(schema.get("secure_protocols") or ())]
        if schemes:
            found.append(
                {
                    "service": str(schema["service_name"]),
                    "schemes": list(dict.fromkeys(schemes)),
                    "setup_url": schema.get("setup_url") or schema.get("service_url") or "",
                }
            )
    return sorted(found, key=lambda s: s["service"].lower())


def _notify_type(level: str) -> Any:
    import apprise

    return {
        "success": apprise.NotifyType.SUCCESS,
        "warning": apprise.NotifyType.WARNING,
        "failure": apprise.NotifyType.FAILURE,
    }.get(level, apprise.NotifyType.INFO)
