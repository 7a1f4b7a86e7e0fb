"""``/api/projects/{project_id}/notification-routes``: which of a project's events go to which notification
channel (see :mod:`rivetr_core.notify.routes`). The channel holds the credentials and is created by an admin
(``/api/notification-channels``); a project's writers route its events there, as they schedule backups to a
destination. A project file's ``[[notifications]]`` tables apply through the same service.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator
from quart import Blueprint, Response
from quart_schema import document_response, tag, validate_request

from rivetr_core.apimodel import ApiModel
from rivetr_core.context import rivetr
from rivetr_core.notify.events import EVENT_TYPES, check_events
from rivetr_core.openapi import responds
from rivetr_core.validation import NAME_SCHEMA, check_name

bp = Blueprint("notification_routes_api", __name__)

APPS_HELP = "The project's apps, services or stacks whose events are routed, by name; empty = all of them."
EVENTS_HELP = f"Event types routed; empty = every type. Known: {', '.join(EVENT_TYPES)}."


def check_apps(v: list[str]) -> list[str]:
    for name in v:
        check_name(name)
    return list(dict.fromkeys(v))


class NotificationRouteIn(ApiModel):
    apps: list[str] = Field(
        default_factory=list,
        max_length=200,
        description=APPS_HELP,
        json_schema_extra={"items": {"type": "string", **NAME_SCHEMA}},
    )
    events: list[str] = Field(
        default_factory=list,
        description=EVENTS_HELP,
        json_schema_extra={"items": {"type": "string", "enum": list(EVENT_TYPES)}},
    )

    _apps = field_validator("apps")(classmethod(lambda cls, v: check_apps(v)))
    _events = field_validator("events")(classmethod(lambda cls, v: check_events(v)))


class ProjectNotificationRouteOut(ApiModel):
    channel_id: str
    channel: str = Field(description="The channel's name (how a project file names it).")
    routed_only: bool = Field(description="The channel receives only what routes send it.")
    apps: list[str] = Field(description=APPS_HELP)
    events: list[str] = Field(description=EVENTS_HELP)


class ProjectNotificationRoutesOut(ApiModel):
    items: list[ProjectNotificationRouteOut]
    next: str | None = None


def _service() -> Any:
    from rivetr_core.notify.routes import RouteService

    return RouteService(rivetr())


@bp.get("/api/projects/<project_id>/notification-routes")
@tag(["notifications"])
@responds(404)
@document_response(ProjectNotificationRoutesOut)
async def list_routes(project_id: str) -> dict[str, Any]:
    """The channels the project routes events to, by channel name (one route per channel; never paged)."""
    from rivetr_core.notify.routes import route_json

    pairs = await _service().for_project(project_id)
    return {"items": [route_json(c, r) for c, r in sorted(pairs, key=lambda p: p[0].name)], "next": None}


@bp.put("/api/projects/<project_id>/notification-routes/<channel_id>")
@tag(["notifications"])
@responds(404)
@validate_request(NotificationRouteIn)
@document_response(ProjectNotificationRouteOut)
async def put_route(project_id: str, channel_id: str, data: NotificationRouteIn) -> dict[str, Any]:
    """Route the project's ``events`` of ``apps`` to the channel (replaces the project's route there)."""
    from rivetr_core.notify.routes import route_json

    channel, route = await _service().put(project_id, channel_id, apps=data.apps, events=data.events)
    return route_json(channel, route)


@bp.delete("/api/projects/<project_id>/notification-routes/<channel_id>")
@tag(["notifications"])
@responds(404)
async def delete_route(project_id: str, channel_id: str) -> Response:
    """Stop routing the project's events to the channel (404 when it routes nothing there)."""
    await _service().delete(project_id, channel_id)
    return Response(status=204)
