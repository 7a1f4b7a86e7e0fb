"""Notification routes: which of a project's events go to which channel (issue 24, project files).

A channel holds the credentials (its URL) and is created on the server by an admin; a project routes its events
to it by the channel's name: ``{"project_id", "apps", "events"}`` on the channel's ``routes`` (one per project).
``apps`` names the project's apps, services or stacks (empty = all of them); ``events`` the event types (empty =
every type). A channel receives an event when its own ``events`` subscription takes it (unless it is
``routed_only``) or when a route of the event's project does: routes only ever add deliveries.

The dispatcher calls :func:`wanted` once per channel and event; it asks the database for the event's project
only when some enabled channel has routes (:class:`ProjectOf` caches the answers), so servers without routes pay
nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rivetr_core.contract.errors import NotFound, ValidationFailed
from rivetr_core.db.engine import utcnow

from .events import check_events

if TYPE_CHECKING:
    from rivetr_core.context import RivetrContext
    from rivetr_core.contract import RivetrEvent
    from rivetr_core.models.ops import NotificationChannel


def subject_name(event: RivetrEvent) -> str | None:
    """The app, service or stack an event is about, by name (what a route's ``apps`` lists)."""
    if event.app_name:
        return event.app_name
    for key in ("service_name", "stack_name"):
        value = event.data.get(key)
        if isinstance(value, str):
            return value
    return None


def wanted(channel: NotificationChannel, event: RivetrEvent, project_id: str | None) -> bool:
    """Whether ``channel`` receives ``event`` (whose project is ``project_id``, if any)."""
    if not channel.routed_only and (not channel.events or event.type in channel.events):
        return True
    if project_id is None:
        return False
    for route in channel.routes:
        if route.get("project_id") != project_id:
            continue
        if route.get("events") and event.type not in route["events"]:
            return False
        apps = route.get("apps") or []
        return not apps or subject_name(event) in apps
    return False


class ProjectOf:
    """An event's project id, from its app, service or stack (cached: ids never change project often, and a
    stale answer costs one misrouted notification at worst, until the channels change)."""

    def __init__(self, ctx: RivetrContext) -> None:
        self.ctx = ctx
        self.cache: dict[tuple[str, str], str | None] = {}

    async def __call__(self, event: RivetrEvent) -> str | None:
        from rivetr_core.models.apps import App
        from rivetr_core.models.services import ManagedService
        from rivetr_core.models.stacks import Stack

        for kind, model, ident in (
            ("app", App, event.app_id),
            ("service", ManagedService, event.data.get("service_id")),
            ("stack", Stack, event.data.get("stack_id")),
        ):
            if not isinstance(ident, str):
                continue
            key = (kind, ident)
            if key not in self.cache:
                async with self.ctx.db.session() as session:
                    row = await session.get(model, ident)  # type: ignore[attr-defined]
                self.cache[key] = getattr(row, "project_id", None) if row is not None else None
            return self.cache[key]
        return None


def route_json(channel: NotificationChannel, route: dict[str, Any]) -> dict[str, Any]:
    return {
        "channel_id": channel.id,
        "channel": channel.name,
        "routed_only": channel.routed_only,
        "apps": list(route.get("apps") or []),
        "events": list(route.get("events") or []),
    }


def check_route(apps: list[str], events: list[str]) -> tuple[list[str], list[str]]:
    """A route's lists, deduplicated; ``ValidationFailed`` naming the field."""
    from rivetr_core.validation import check_name

    try:
        events = check_events(events)
    except ValueError as exc:
        raise ValidationFailed.on("events", str(exc)) from None
    for name in apps:
        try:
            check_name(name)
        except ValueError as exc:
            raise ValidationFailed.on("apps", f"{name!r}: {exc}") from None
    return list(dict.fromkeys(apps)), events


class RouteService:
    """Reads and writes the routes of one project on the channels (through the channels' own service, so its
    cache of enabled channels is dropped on every change)."""

    def __init__(self, ctx: RivetrContext) -> None:
        self.ctx = ctx

    async def _project(self, project_id: str) -> None:
        from rivetr_core.models.apps import Project

        async with self.ctx.db.session() as session:
            if await session.get(Project, project_id) is None:
                raise NotFound.of("project", project_id)

    async def for_project(self, project_id: str) -> list[tuple[NotificationChannel, dict[str, Any]]]:
        """The project's routes by channel name: ``(channel, route)`` pairs."""
        await self._project(project_id)
        out = []
        for channel in await self.ctx.services.notifications.list_channels():
            for route in channel.routes:
                if route.get("project_id") == project_id:
                    out.append((channel, route))
        return out

    async def put(
        self, project_id: str, channel_id: str, *, apps: list[str], events: list[str]
    ) -> tuple[NotificationChannel, dict[str, Any]]:
        """Route the project's ``events`` of ``apps`` to the channel (replacing its route there, if any)."""
        await self._project(project_id)
        apps, events = check_route(apps, events)
        notifications = self.ctx.services.notifications
        channel = await notifications.get(channel_id)
        route = {"project_id": project_id, "apps": apps, "events": events}
        routes = [r for r in channel.routes if r.get("project_id") != project_id] + [route]
        return await self._save(channel, routes), route

    async def delete(self, project_id: str, channel_id: str) -> None:
        """Stop routing the project's events to the channel; ``NotFound`` if it did not."""
        await self._project(project_id)
        channel = await self.ctx.services.notifications.get(channel_id)
        routes = [r for r in channel.routes if r.get("project_id") != project_id]
        if len(routes) == len(channel.routes):
            raise NotFound(f"project {project_id} routes nothing to channel {channel.name}")
        await self._save(channel, routes)

    async def _save(self, channel: NotificationChannel, routes: list[dict[str, Any]]) -> NotificationChannel:
        from rivetr_core.models.ops import NotificationChannel as Row

        async with self.ctx.db.session() as session:
            row = await session.get(Row, channel.id)
            if row is None:
                raise NotFound.of("notification channel", channel.id)
            row.routes, row.updated_at = routes, utcnow()
            session.add(row)
            await session.commit()
            await session.refresh(row)
        self.ctx.services.notifications.forget_channels()
        return row
