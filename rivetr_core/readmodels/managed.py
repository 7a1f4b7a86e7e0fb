"""Managed services' parts of the dashboard's pages, in the API's JSON shapes: an app's links (Links panel) and
a service's backup runs (its Backups panel). Feature code: every import happens inside the functions, so the
server loads nothing of it until such a page is asked for."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rivetr_core.context import RivetrContext
    from rivetr_core.services import Services


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
