"""Scheduled tasks and scheduled deployments as the API shows them (``/api/apps/{id}/tasks``,
``/api/apps/{id}/scheduled-deployments``; docs/tasks.md). Apart from the services so that registering the API's
routes at start-up loads neither service nor their tables (idle memory): the services load on first use."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from rivetr_core.apimodel import ApiModel
from rivetr_core.db import isoformat

if TYPE_CHECKING:
    from rivetr_core.models.tasks import AppTaskRun

#: The longest a task may run, in seconds (a day).
MAX_TIMEOUT = 86400
#: What a run keeps of its output, in KiB (rivetr_core.models.tasks.OUTPUT_LIMIT, which a test holds equal).
OUTPUT_KIB = 64


class TaskRunOut(ApiModel):
    id: str
    task_id: str
    app_id: str
    trigger: Literal["manual", "schedule"]
    status: Literal["running", "succeeded", "failed", "timed_out", "interrupted"]
    command: str
    started_at: str | None
    finished_at: str | None
    exit_code: int | None
    duration_ms: int | None
    output: str = Field(description=f"stdout and stderr interleaved; the last {OUTPUT_KIB} KiB.")
    output_truncated: bool = Field(description="True when earlier output was cut to keep the limit.")
    error: str | None
    plane_id: str | None = Field(
        None,
        description="PostgreSQL with several control planes: the plane (GET /api/system/control-planes) "
        "running it; a live plane ends a dead one's runs interrupted. Null on SQLite.",
    )


class TaskOut(ApiModel):
    id: str
    app_id: str
    name: str
    command: str
    schedule: str
    timezone: str
    timeout: int
    enabled: bool
    next_run_at: str | None = Field(description="The next scheduled run (UTC); null while disabled.")
    last_run: TaskRunOut | None = Field(description="The latest run, output included.")
    created_at: str | None
    updated_at: str | None


def run_json(run: AppTaskRun) -> dict[str, Any]:
    return TaskRunOut(
        id=run.id,
        task_id=run.task_id,
        app_id=run.app_id,
        trigger=run.trigger,  # type: ignore[arg-type]
        status=run.status,  # type: ignore[arg-type]
        command=run.command,
        started_at=isoformat(run.started_at),
        finished_at=isoformat(run.finished_at),
        exit_code=run.exit_code,
        duration_ms=run.duration_ms,
        output=run.output,
        output_truncated=run.output_truncated,
        error=run.error,
        plane_id=run.plane_id,
    ).model_dump(mode="json")


class ScheduledDeploymentOut(ApiModel):
    id: str
    app_id: str
    kind: Literal["once", "cron"]
    at: str | None = Field(description="A one-off's time (UTC).")
    schedule: str | None = Field(description="A recurring one's cron expression.")
    timezone: str
    no_cache: bool
    status: Literal["scheduled", "done", "failed"] = Field(
        description="A one-off: scheduled until it ran, then done (deployment queued) or failed (refused)."
    )
    next_run_at: str | None = Field(description="When it deploys next (UTC); null once a one-off ran.")
    last_run_at: str | None
    last_deployment_id: str | None
    last_error: str | None
    created_at: str | None
