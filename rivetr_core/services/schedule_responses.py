"""The scheduler's jobs and runs as the API shows them (``GET /api/schedules``, ``.../runs``).

A job's JSON comes from the read-model (:func:`rivetr_core.readmodels.schedule_json`, the dashboard's too) and
is validated by :class:`ScheduleOut`; a run's is built by :func:`run_json` through :class:`RunOut`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict, Field

from rivetr_core.apimodel import ApiModel
from rivetr_core.db import isoformat

if TYPE_CHECKING:
    from rivetr_core.models.schedules import JobRun


class _Out(ApiModel):
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
