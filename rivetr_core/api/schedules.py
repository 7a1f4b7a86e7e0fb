"""``GET /api/schedules``: the scheduler's jobs with their next and last run; ``GET /api/schedules/{id}/runs``:
a job's recent runs (status ``running`` | ``succeeded`` | ``failed`` | ``interrupted`` | ``skipped``);
``POST /api/schedules/{id}/run``: run a job now (through the same claim as a scheduled run: never twice at once)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from quart import Blueprint
from quart_schema import tag, validate_response
from sqlmodel import select

from rivetr_core.context import rivetr
from rivetr_core.db.engine import isoformat
from rivetr_core.errors import ApiError
from rivetr_core.models.schedules import JobRun, ScheduledJob
from rivetr_core.readmodels import list_schedules as read_schedules
from rivetr_core.readmodels import schedule_json

bp = Blueprint("schedules_api", __name__, url_prefix="/api/schedules")


class ScheduleOut(BaseModel):
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


class ScheduleList(BaseModel):
    items: list[ScheduleOut]
    next: str | None = Field(
        None, description="Cursor of the next page; always null (every job fits a page)."
    )


class RunOut(BaseModel):
    id: str
    status: str
    scheduled_for: str | None
    started_at: str | None
    finished_at: str | None
    error: str | None
    result: dict[str, Any]


class RunList(BaseModel):
    items: list[RunOut]
    next: str | None = None


def run_json(run: JobRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "status": run.status,
        "scheduled_for": isoformat(run.scheduled_for),
        "started_at": isoformat(run.started_at),
        "finished_at": isoformat(run.finished_at),
        "error": run.error,
        "result": run.result or {},
    }


@bp.get("")
@tag(["schedules"])
@validate_response(ScheduleList)
async def list_schedules() -> ScheduleList:
    """Every scheduled job, by name, with its next and last run."""
    return ScheduleList(items=[ScheduleOut(**j) for j in await read_schedules(rivetr().db)], next=None)


@bp.get("/<job_id>/runs")
@tag(["schedules"])
@validate_response(RunList)
async def list_runs(job_id: str) -> RunList:
    """A job's 50 most recent runs, newest first."""
    async with rivetr().db.session() as session:
        if await session.get(ScheduledJob, job_id) is None:
            raise ApiError(404, f"no schedule {job_id}")
        runs = (
            await session.exec(
                select(JobRun)
                .where(JobRun.job_id == job_id)
                .order_by(JobRun.started_at.desc())  # type: ignore[attr-defined]
                .limit(50)
            )
        ).all()
    return RunList(items=[RunOut(**run_json(r)) for r in runs], next=None)


@bp.post("/<job_id>/run")
@tag(["schedules"])
@validate_response(ScheduleOut, 202)
async def run_now(job_id: str) -> tuple[ScheduleOut, int]:
    """Make the job due now; the scheduler claims and starts it at once. 409 while a run of it goes on. Follow
    it with ``GET /api/schedules/{id}/runs``."""
    scheduler = rivetr().services.get("scheduler")
    if scheduler is None:
        raise ApiError(503, "the scheduler is not running")
    job = await scheduler.run_now(job_id)
    if job is None:
        raise ApiError(404, f"no schedule {job_id}")
    if job == "running":
        raise ApiError(409, "a run of this schedule is in progress; wait for it to finish")
    if isinstance(job, str):
        raise ApiError(409, "this schedule is disabled")
    return ScheduleOut(**schedule_json(job)), 202
