"""An app's Tasks tab, in the API's JSON shapes: its tasks (``GET /api/apps/{id}/tasks``) each with its latest
runs (``GET .../runs``), and its scheduled deployments (``GET /api/apps/{id}/scheduled-deployments``). Feature
code: imported inside the function, so only the Tasks tab loads the task services."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rivetr_core.context import RivetrContext


async def app_tasks(ctx: RivetrContext, app_id: str, *, runs: int) -> dict[str, Any]:
    """``{"app", "tasks", "scheduled", "running"}``: each task with its ``runs`` latest runs; ``running`` when one
    of them goes on. Raises ``NotFound`` for an unknown (or invisible) app."""
    from rivetr_core.services.scheduled_deployments import ScheduledDeploymentService
    from rivetr_core.services.tasks import TaskService, run_json

    tasks_service, deploys = TaskService(ctx), ScheduledDeploymentService(ctx)
    app = await tasks_service.app(app_id)
    tasks: list[dict[str, Any]] = await tasks_service.tasks_json(await tasks_service.list_tasks(app_id))
    for task in tasks:
        task["runs"] = [run_json(r) for r in await tasks_service.runs(app_id, task["id"], limit=runs)]
    return {
        "app": app,
        "tasks": tasks,
        "scheduled": await deploys.rows_json(await deploys.list_scheduled(app_id)),
        "running": any(r["status"] == "running" for t in tasks for r in t["runs"]),
    }
