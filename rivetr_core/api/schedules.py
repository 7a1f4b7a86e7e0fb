"""``GET /api/schedules``: the scheduler's jobs with their next and last run; ``GET /api/schedules/{id}/runs``:
a job's recent runs (status ``running`` | ``succeeded`` | ``failed`` | ``interrupted`` | ``skipped``);
``POST /api/schedules/{id}/run``: run a job now (through the same claim as a scheduled run: never twice at once).

Thin handlers over the read-model (the job list) and :class:`~rivetr_core.scheduler.service.Scheduler`
(``ctx.services.scheduler``: runs, run now), which raises the domain errors.
"""

from __future__ import annotations

from quart import Blueprint
from quart_schema import tag, validate_response

from rivetr_core.context import rivetr
from rivetr_core.readmodels import list_schedules as read_schedules
from rivetr_core.readmodels import schedule_json
from rivetr_core.scheduler.service import Scheduler
from rivetr_core.services.errors import ServiceNotRunning
from rivetr_core.services.schedule_responses import RunList, ScheduleList, ScheduleOut, run_json

bp = Blueprint("schedules_api", __name__, url_prefix="/api/schedules")


def _scheduler() -> Scheduler:
    scheduler: Scheduler | None = rivetr().services.get("scheduler")
    if scheduler is None:
        raise ServiceNotRunning("the scheduler is not running")
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
