"""The project page's Notifications panel (``/projects/<id>/partials/notifications``): the channels the project
routes its events to, and a form to route them (REST calls from the browser to
``/api/projects/{id}/notification-routes``; docs/notifications.md, "Routing a project's events")."""

from __future__ import annotations

from quart import abort

from rivetr_core.readmodels import project_notifications as reads

from .. import queries
from ..blueprint import bp, ctx, render


@bp.get("/projects/<project_id>/partials/notifications")
async def project_notifications(project_id: str) -> tuple[str, int]:
    project = await queries.get_project(ctx(), project_id)
    if project is None:
        abort(404, f"Project {project_id!r} not found.")
    data = await reads.project_notification_routes(ctx(), project.id)
    return await render(
        "partials/project_notifications.html",
        project=project,
        routes=data["routes"],
        channels=data["channels"],
        event_types=reads.EVENT_TYPES,
    )
