"""A compose stack's Backups panel, in the API's JSON shapes: its named volumes (``GET /api/stacks/{id}/volumes``)
and its backup runs with their latest restore (``GET /api/stacks/{id}/backups``). Feature code: imported inside the
functions, so only a stack page asking for the panel loads the backup service."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rivetr_core.services import Services


async def stack_volumes(services: Services, stack_id: str) -> list[dict[str, Any]]:
    """The stack's named volumes with the services mounting them and their size; raises ``NotFound`` for an
    unknown stack (the page answers 404); [] while the backup service is not running."""
    service = services.get("backups")
    if service is None:
        return []
    _stack, items = await service.stack_volume_listing(stack_id)
    return list(items)


async def stack_backup_runs(services: Services, stack_id: str, *, limit: int) -> list[dict[str, Any]]:
    """The stack's newest ``limit`` backups, each with ``last_restore`` (its latest restore, or None)."""
    service = services.get("backups")
    if service is None:
        return []
    from rivetr_core.pagination import PageQuery
    from rivetr_core.services.backup_responses import backup_json, restore_json

    rows, _next = await service.list_stack_backups(stack_id, PageQuery(limit=limit))
    runs = []
    for row in rows:
        run = backup_json(row)
        restores: list[Any] = []
        if row.status == "succeeded":
            restores, _next = await service.list_restores(row.id, PageQuery(limit=1))
        run["last_restore"] = restore_json(restores[0]) if restores else None
        runs.append(run)
    return runs
