"""The app page's Tasks tab (``/apps/<id>/tasks``): its content is ``partials/app_tasks.html``, loaded from
``/apps/<id>/partials/tasks`` (re-read after every change, and every second while a run goes on), read through
the same services as ``/api/apps/{id}/tasks`` and ``/api/apps/{id}/scheduled-deployments``; every change is a
REST call from the browser (docs/tasks.md)."""

from __future__ import annotations

from typing import Any

from quart import abort

from rivetr_core.contract.errors import NotFound

from ..blueprint import bp, ctx, render

#: Runs shown per task in its history (the API keeps 100).
RUNS_SHOWN = 10


@bp.get("/apps/<app_id>/partials/tasks")
async def app_tasks(app_id: str) -> tuple[str, int]:
    from rivetr_core.services.scheduled_deployments import ScheduledDeploymentService
    from rivetr_core.services.tasks import TaskService, run_json

    c = ctx()
    tasks_service, deploys = TaskService(c), ScheduledDeploymentService(c)
    try:
        app = await tasks_service.app(app_id)
        rows = await tasks_service.list_tasks(app_id)
    except NotFound:
        abort(404, f"app {app_id!r} not found")
    tasks: list[dict[str, Any]] = await tasks_service.tasks_json(rows)
    for task in tasks:
        task["runs"] = [run_json(r) for r in await tasks_service.runs(app_id, task["id"], limit=RUNS_SHOWN)]
    scheduled = await deploys.rows_json(await deploys.list_scheduled(app_id))
    running = any(r["status"] == "running" for t in tasks for r in t["runs"])
    return await render("partials/app_tasks.html", app=app, tasks=tasks, scheduled=scheduled, running=running)
