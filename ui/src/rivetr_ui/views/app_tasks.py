"""The app page's Tasks tab (``/apps/<id>/tasks``): its content is ``partials/app_tasks.html``, loaded from
``/apps/<id>/partials/tasks`` (re-read after every change, and every second while a run goes on), read through
:func:`rivetr_core.readmodels.app_tasks` in the API's shapes; every change is a REST call from the browser
(``/api/apps/{id}/tasks``, ``/api/apps/{id}/scheduled-deployments``; docs/tasks.md)."""

from __future__ import annotations

from quart import abort

from rivetr_core import readmodels
from rivetr_core.contract.errors import NotFound

from ..blueprint import bp, ctx, render

#: Runs shown per task in its history (the API keeps 100).
RUNS_SHOWN = 10


@bp.get("/apps/<app_id>/partials/tasks")
async def app_tasks(app_id: str) -> tuple[str, int]:
    try:
        page = await readmodels.app_tasks(ctx(), app_id, runs=RUNS_SHOWN)
    except NotFound:
        abort(404, f"App {app_id!r} not found.")
    from rivetr_core.readmodels import managed_settings

    # The tasks the repository's rivetr.toml declares: their row says so instead of Disable and Delete.
    managed = await managed_settings.managed_by_file(ctx().db, app_id)
    return await render("partials/app_tasks.html", **page, managed=managed)
