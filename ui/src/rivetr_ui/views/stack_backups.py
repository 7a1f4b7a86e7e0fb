"""A compose stack's Backups panel (``/stacks/<id>/partials/backups``, loaded into the stack page by
``partials/stack_backups.html``): its named volumes with the services mounting them, "Back up now" (every volume
or one), its runs with their latest restore and a Restore into this stack or another. Read through
:mod:`rivetr_core.readmodels`; every change is a REST call from the browser (``/api/stacks/{id}/backups``,
``/api/backups/{id}/restore-stack``) with the session and CSRF header, so errors are exactly the API's."""

from __future__ import annotations

from typing import Any

from quart import abort

from rivetr_core import readmodels
from rivetr_core.contract.errors import NotFound

from .. import queries
from ..blueprint import bp, ctx, render

#: Runs shown in the panel (the API pages through more) and destinations offered.
RUNS_SHOWN = 30
LISTED = 200


async def _runs(stack_id: str) -> list[dict[str, Any]]:
    names = {d["id"]: d["name"] for d in await readmodels.backup_destinations(ctx().services, limit=LISTED)}
    runs = await readmodels.stack_backup_runs(ctx().services, stack_id, limit=RUNS_SHOWN)
    return [{**r, "destination_name": names.get(r.get("destination_id") or "")} for r in runs]


@bp.get("/stacks/<stack_id>/partials/backups")
async def stack_backups(stack_id: str) -> tuple[str, int]:
    try:
        volumes = await readmodels.stack_volumes(ctx().services, stack_id)
    except NotFound as exc:
        abort(404, exc.message)
    stacks = await queries.stack_rows(ctx())
    stack = next((s for s in stacks if s["id"] == stack_id or s["name"] == stack_id), None)
    if stack is None:
        abort(404)
    return await render(
        "partials/stack_backup_panel.html",
        stack=stack,
        volumes=volumes,
        destinations=await readmodels.backup_destinations(ctx().services, limit=LISTED),
        runs=await _runs(stack["id"]),
        stacks=stacks,
    )


@bp.get("/stacks/<stack_id>/partials/backup-runs")
async def stack_backup_runs(stack_id: str) -> tuple[str, int]:
    stacks = await queries.stack_rows(ctx())
    stack = next((s for s in stacks if s["id"] == stack_id), None)
    if stack is None:
        abort(404)
    return await render(
        "partials/stack_backup_runs.html", stack=stack, runs=await _runs(stack["id"]), stacks=stacks
    )
