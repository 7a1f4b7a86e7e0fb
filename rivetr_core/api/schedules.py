"""``GET /api/schedules``: the scheduler's jobs with their next and last run; ``GET /api/schedules/{id}/runs``:
a job's recent runs (status ``running`` | ``succeeded`` | ``failed`` | ``interrupted`` | ``skipped``);
``POST /api/schedules/{id}/run``: run a job now (through the same claim as a scheduled run: never twice at once).

Thin handlers over the read-model (the job list) and :class:`~rivetr_core.scheduler.service.Scheduler`
(``ctx.services.scheduler``: runs, run now), which raises the domain errors.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from quart import Blueprint
from quart_schema import tag, validate_response

from rivetr_core.context import rivetr
from rivetr_core.db.engine import isoformat
from rivetr_core.errors import ApiError
from rivetr_core.models.schedules import JobRun
from rivetr_core.readmodels import list_schedules as read_schedules
from rivetr_core.readmodels import schedule_json
from rivetr_core.scheduler.service import Scheduler

bp = Blueprint("schedules_api", __name__, url_prefix="/api/schedules")


class _Out(BaseModel):
    # A key the read-model adds but the model lacks fails loudly instead of vanishing from the answer.
    model_config = ConfigDict(extra="forbid")


class ScheduleOut(_Out):
    """A scheduler job (not a backup schedule: those are ``BackupScheduleOut``, each with its job here)."""

    id: str
    name: str
    kind: str = Field(description="The job kind that runs (state_backup, ...).")
    cron: str = Field(description="Five-field cron expression, read in `timezone`.")
    timezone: str
    jitter_seconds: int
    catch_up: bool = Field(
        description="A slot missed while the server was down runs once at start (true) or is skipped."
    )
    enabled: bool
    next_run_at: str | None = Field(description="UTC, ISO 8601; null when disabled or its expression broke.")
    last_run_at: str | None
    last_status: str | None = Field(description="running, succeeded, failed, interrupted or skipped.")
    last_error: str | None
    running: bool = Field(description="A run holds the job's lock now.")


class ScheduleList(_Out):
    items: list[ScheduleOut]
    next: str | None = Field(
        None, description="Cursor of the next page; always null (every job fits a page)."
    )


class RunOut(_Out):
    id: str
    status: str = Field(description="running, succeeded, failed, interrupted or skipped.")
    scheduled_for: str | None = Field(description="The slot the run is for (UTC).")
    started_at: str | None
    finished_at: str | None
    error: str | None
    result: dict[str, Any] = Field(description="What the job kind reports (a state backup: path, sha256...).")


class RunList(_Out):
    items: list[RunOut]
    next: str | None = Field(None, description="Always null: the 50 most recent runs.")


def run_json(run: JobRun) -> RunOut:
    return RunOut(
        id=run.id,
        status=run.status,
        scheduled_for=isoformat(run.scheduled_for),
        started_at=isoformat(run.started_at),
        finished_at=isoformat(run.finished_at),
        error=run.error,
        result=run.result or {},
    )


def _scheduler() -> Scheduler:
    scheduler: Scheduler | None = rivetr().services.get("scheduler")
    if scheduler is None:
        raise ApiError(503, "the scheduler is not running")
    return scheduler


@bp.get("")
@tag(["schedules"])
@validate_response(ScheduleList)
async def list_schedules() -> ScheduleList:
    """Every scheduled job, by name, with its next and last run."""
    jobs = await read_schedules(rivetr().db)
    return ScheduleList(items=[ScheduleOut.model_validate(j) for j in jobs], next=None)


@bp.get("/<job_id>/runs")
@tag(["schedules"])
@validate_response(RunList)
async def list_runs(job_id: str) -> RunList:
    """A job's 50 most recent runs, newest first."""
    return RunList(items=[run_json(r) for r in await _scheduler().runs(job_id, limit=50)], next=None)


@bp.post("/<job_id>/run")
@tag(["schedules"])
@validate_response(ScheduleOut, 202)
async def run_now(job_id: str) -> tuple[ScheduleOut, int]:
    """Make the job due now; the scheduler claims and starts it at once. 409 while a run of it goes on (or it
    is disabled). Follow it with ``GET /api/schedules/{id}/runs``."""
    return ScheduleOut.model_validate(schedule_json(await _scheduler().run_now(job_id))), 202
