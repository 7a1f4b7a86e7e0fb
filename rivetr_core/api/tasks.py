"""``/api/apps/{id}/tasks``: an app's scheduled tasks, their runs and "Run now"; ``/api/apps/{id}/scheduled-
deployments``: deployments at a set time or on a cron, cancellable (docs/tasks.md).

Thin handlers over :class:`~rivetr_core.services.tasks.TaskService` and
:class:`~rivetr_core.services.scheduled_deployments.ScheduledDeploymentService`, which own the rules and raise
the domain errors (422 naming the field, 404, 409 ``task_running``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict, Field
from quart import Blueprint, Response
from quart_schema import document_response, tag, validate_request

from rivetr_core.apimodel import ApiModel
from rivetr_core.context import rivetr
from rivetr_core.services.task_responses import (
    MAX_TIMEOUT,
    ScheduledDeploymentOut,
    TaskOut,
    TaskRunOut,
    run_json,
)

if TYPE_CHECKING:
    from rivetr_core.services.scheduled_deployments import ScheduledDeploymentService
    from rivetr_core.services.tasks import TaskService

bp = Blueprint("tasks_api", __name__, url_prefix="/api/apps/<app_id>")

_NAME = "1-63 of a-z, 0-9, '-' and '_' (a letter or digit at each end), unique per app."
_NAME_PATTERN = r"^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$"
_COMMAND = "Shell text, run with sh -c in the app's running container (its environment and volumes)."
_SCHEDULE = "Cron, five fields: minute hour day-of-month month day-of-week (e.g. '0 3 * * *')."
_TZ = "IANA time zone the cron is read in."
_TIMEOUT = "Seconds; the command (and what it started) is killed past it."


class TaskIn(ApiModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=63, pattern=_NAME_PATTERN, description=_NAME)
    command: str = Field(min_length=1, max_length=4000, description=_COMMAND)
    schedule: str = Field(min_length=1, max_length=200, description=_SCHEDULE)
    timezone: str = Field("UTC", min_length=1, max_length=64, description=_TZ)
    timeout: int = Field(300, ge=1, le=MAX_TIMEOUT, description=_TIMEOUT)
    enabled: bool = True


class TaskUpdate(ApiModel):
    """Partial update: only the fields present (and not null) change."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=63, pattern=_NAME_PATTERN, description=_NAME)
    command: str | None = Field(None, min_length=1, max_length=4000, description=_COMMAND)
    schedule: str | None = Field(None, min_length=1, max_length=200, description=_SCHEDULE)
    timezone: str | None = Field(None, min_length=1, max_length=64, description=_TZ)
    timeout: int | None = Field(None, ge=1, le=MAX_TIMEOUT, description=_TIMEOUT)
    enabled: bool | None = None


class TaskPage(ApiModel):
    items: list[TaskOut]
    next: str | None = Field(description="Always null: an app's tasks fit on one page.")


class TaskRunPage(ApiModel):
    items: list[TaskRunOut]
    next: str | None = Field(description="Always null: the 50 latest runs (100 are kept).")


class ScheduledDeploymentIn(ApiModel):
    model_config = ConfigDict(extra="forbid")

    at: str | None = Field(
        None, max_length=64, description="Deploy once at this RFC 3339 time (e.g. 2026-05-01T03:00:00Z)."
    )
    schedule: str | None = Field(
        None, max_length=200, description="Or deploy on this cron (" + _SCHEDULE + ")"
    )
    timezone: str = Field("UTC", min_length=1, max_length=64, description=_TZ + " (with schedule).")
    no_cache: bool = Field(False, description="Build without the engine's layer cache (a clean rebuild).")


class ScheduledDeploymentPage(ApiModel):
    items: list[ScheduledDeploymentOut]
    next: str | None = Field(description="Always null.")


def _tasks() -> TaskService:
    from rivetr_core.services.tasks import TaskService  # loads with the first request (idle memory)

    return TaskService(rivetr())


def _deploys() -> ScheduledDeploymentService:
    from rivetr_core.services.scheduled_deployments import ScheduledDeploymentService

    return ScheduledDeploymentService(rivetr())


@bp.get("/tasks")
@tag(["tasks"])
@document_response(TaskPage)
async def list_tasks(app_id: str) -> dict[str, Any]:
    """The app's tasks by name, each with its next run and its latest run."""
    service = _tasks()
    return {"items": await service.tasks_json(await service.list_tasks(app_id)), "next": None}


@bp.post("/tasks")
@tag(["tasks"])
@validate_request(TaskIn)
@document_response(TaskOut, 201)
async def create_task(app_id: str, data: TaskIn) -> tuple[dict[str, Any], int]:
    """Add a task. 422 names the field (a cron or time zone that does not parse, a bad name), 409 a name the
    app uses already."""
    service = _tasks()
    return await service.task_json(await service.create(app_id, data.model_dump())), 201


@bp.get("/tasks/<task_id>")
@tag(["tasks"])
@document_response(TaskOut)
async def get_task(app_id: str, task_id: str) -> dict[str, Any]:
    service = _tasks()
    return await service.task_json(await service.get(app_id, task_id))


@bp.put("/tasks/<task_id>")
@tag(["tasks"])
@validate_request(TaskUpdate)
@document_response(TaskOut)
async def update_task(app_id: str, task_id: str, data: TaskUpdate) -> dict[str, Any]:
    """Change a task; a new schedule, time zone or re-enabling recomputes its next run."""
    service = _tasks()
    fields = {k: getattr(data, k) for k in data.model_fields_set}
    return await service.task_json(await service.update(app_id, task_id, fields))


@bp.delete("/tasks/<task_id>")
@tag(["tasks"])
async def delete_task(app_id: str, task_id: str) -> Response:
    """Remove a task with its run history; a run going on finishes."""
    await _tasks().delete(app_id, task_id)
    return Response(status=204)


@bp.post("/tasks/<task_id>/run")
@tag(["tasks"])
@document_response(TaskRunOut, 202)
async def run_task(app_id: str, task_id: str) -> tuple[dict[str, Any], int]:
    """Run the task now (a disabled one too); answers the run, ``running``. Follow it with
    ``GET .../runs/{run_id}``. 409 ``task_running`` while a run of it goes on."""
    return run_json(await _tasks().run_now(app_id, task_id)), 202


@bp.get("/tasks/<task_id>/runs")
@tag(["tasks"])
@document_response(TaskRunPage)
async def list_task_runs(app_id: str, task_id: str) -> dict[str, Any]:
    """The task's 50 latest runs, newest first: started, finished, exit code, duration and output."""
    runs = await _tasks().runs(app_id, task_id, limit=50)
    return {"items": [run_json(r) for r in runs], "next": None}


@bp.get("/tasks/<task_id>/runs/<run_id>")
@tag(["tasks"])
@document_response(TaskRunOut)
async def get_task_run(app_id: str, task_id: str, run_id: str) -> dict[str, Any]:
    return run_json(await _tasks().get_run(app_id, task_id, run_id))


@bp.get("/scheduled-deployments")
@tag(["tasks"])
@document_response(ScheduledDeploymentPage)
async def list_scheduled_deployments(app_id: str) -> dict[str, Any]:
    """The app's scheduled deployments with their next run (a one-off that ran stays listed, done)."""
    service = _deploys()
    return {"items": await service.rows_json(await service.list_scheduled(app_id)), "next": None}


@bp.post("/scheduled-deployments")
@tag(["tasks"])
@validate_request(ScheduledDeploymentIn)
@document_response(ScheduledDeploymentOut, 201)
async def create_scheduled_deployment(app_id: str, data: ScheduledDeploymentIn) -> tuple[dict[str, Any], int]:
    """Deploy the app once at ``at`` or on ``schedule``. 422 names the field: neither or both given, a time
    in the past or not RFC 3339, a cron that does not parse, ``no_cache`` for an image app."""
    service = _deploys()
    row = await service.create(app_id, data.model_dump())
    return (await service.rows_json([row]))[0], 201


@bp.get("/scheduled-deployments/<scheduled_id>")
@tag(["tasks"])
@document_response(ScheduledDeploymentOut)
async def get_scheduled_deployment(app_id: str, scheduled_id: str) -> dict[str, Any]:
    service = _deploys()
    return (await service.rows_json([await service.get(app_id, scheduled_id)]))[0]


@bp.delete("/scheduled-deployments/<scheduled_id>")
@tag(["tasks"])
async def delete_scheduled_deployment(app_id: str, scheduled_id: str) -> Response:
    """Cancel it (a deployment it already started goes on)."""
    await _deploys().delete(app_id, scheduled_id)
    return Response(status=204)
