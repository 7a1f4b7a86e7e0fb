"""Backups as the API shows them (the same JSON objects), read through ``ctx.services.backups``: destinations,
runs with their latest restore, schedules. Each function answers [] while the backup service is not running, so
a page can say so instead of failing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rivetr_core.services import Services


async def backup_destinations(services: Services, *, limit: int) -> list[dict[str, Any]]:
    """The first ``limit`` destinations (in creation order), secrets left out as the API leaves them."""
    service = services.get("backups")
    if service is None:
        return []
    from rivetr_core.pagination import PageQuery

    rows, _next = await service.list_destinations(PageQuery(limit=limit))
    return [service.destination_json(row) for row in rows]


async def backup_runs(
    services: Services,
    *,
    limit: int,
    app_id: str | None = None,
    status: str | None = None,
    with_last_restore: bool = False,
) -> list[dict[str, Any]]:
    """The newest ``limit`` runs (of one app, in one status), newest first. ``with_last_restore`` adds
    ``last_restore``: the latest restore of a succeeded volume backup (None when there is none)."""
    service = services.get("backups")
    if service is None:
        return []
    from rivetr_core.pagination import PageQuery
    from rivetr_core.services.backups import backup_json, restore_json

    rows, _next = await service.list_backups(PageQuery(limit=limit), app_id=app_id, status=status)
    runs = []
    for row in rows:
        run = backup_json(row)
        if with_last_restore:
            restores: list[Any] = []
            if row.what == "volumes" and row.status == "succeeded":
                restores, _next = await service.list_restores(row.id, PageQuery(limit=1))
            run["last_restore"] = restore_json(restores[0]) if restores else None
        runs.append(run)
    return runs


async def backup_schedules(services: Services, *, limit: int) -> list[dict[str, Any]]:
    """The first ``limit`` backup schedules (in creation order) with their job's next and last run."""
    service = services.get("backups")
    if service is None:
        return []
    from rivetr_core.pagination import PageQuery

    rows, _next = await service.list_schedules(PageQuery(limit=limit))
    return [await service.schedule_json(row) for row in rows]
