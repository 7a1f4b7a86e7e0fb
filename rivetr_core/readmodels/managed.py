"""Managed services' parts of the dashboard's pages, in the API's JSON shapes: an app's links (Links panel), a
service's backup runs (its Backups panel) and the services of a project page or the command palette. Feature
code: every import happens inside the functions, so the server loads nothing of it until such a page is asked
for, and pages every user sees (a project, the palette) load it only once a service exists."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import text

if TYPE_CHECKING:
    from rivetr_core.context import RivetrContext
    from rivetr_core.services import Services

# Raw SQL, not the model: whether a service exists must not load the feature's models.
_ANY_SERVICE = text("SELECT 1 FROM services LIMIT 1")
_ANY_SERVICE_IN_PROJECT = text("SELECT 1 FROM services WHERE project_id = :project_id LIMIT 1")


async def services_if_any(
    ctx: RivetrContext, *, project_id: str | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """The first ``limit`` services (of ``project_id`` when given) as ``GET /api/services`` lists them, or []
    without loading the feature when there is none: the project page and the palette ask on every visit, and a
    server that never had a service must not import the services feature for them (idle memory)."""
    async with ctx.db.engine.connect() as conn:
        if project_id is None:
            found = await conn.execute(_ANY_SERVICE)
        else:
            found = await conn.execute(_ANY_SERVICE_IN_PROJECT, {"project_id": project_id})
        if found.first() is None:
            return []
    items: list[dict[str, Any]] = await ctx.services.managed.listing(project_id=project_id, limit=limit)
    return items


async def app_links(ctx: RivetrContext, app_id: str) -> list[dict[str, Any]]:
    """The app's links by prefix as ``GET /api/apps/{id}/links`` lists them (variable names, no values)."""
    from rivetr_core.services.service_links import ServiceLinkService

    return await ServiceLinkService(ctx).listing(app_id)


async def service_backup_runs(services: Services, service_id: str, *, limit: int) -> list[dict[str, Any]]:
    """The service's newest ``limit`` backups as ``GET /api/services/{id}/backups`` lists them; [] while the
    backup service is not running."""
    service = services.get("backups")
    if service is None:
        return []
    from rivetr_core.pagination import PageQuery
    from rivetr_core.services.backup_responses import backup_json

    rows, _next = await service.list_service_backups(service_id, PageQuery(limit=limit))
    return [backup_json(row) for row in rows]
