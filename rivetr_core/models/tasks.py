"""Scheduled tasks of an app and their runs, and scheduled deployments (docs/tasks.md).

Each enabled task and each scheduled deployment has one scheduler job (:mod:`rivetr_core.scheduler`) named
:func:`task_job_name` / :func:`deploy_job_name`; the job stores the next run, these rows store what to run and
what happened. A task's runs are its own rows (not the scheduler's ``job_runs``): a manual "Run now" of a
disabled task has no scheduler slot, and a run keeps the command's exit code and output.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from rivetr_core.db.engine import new_id, utcnow

#: The tail of a run's output that is kept (bytes of UTF-8 text): a chatty task cannot fill the database.
OUTPUT_LIMIT = 64 * 1024
#: Runs kept per task; older ones are deleted after each run.
RUNS_KEPT = 100

TASK_RUN_STATUSES = ("running", "succeeded", "failed", "timed_out", "interrupted")


def task_job_name(task_id: str) -> str:
    return f"app-task:{task_id}"


def deploy_job_name(scheduled_id: str) -> str:
    return f"scheduled-deploy:{scheduled_id}"


class AppTask(SQLModel, table=True):
    __tablename__ = "app_tasks"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    app_id: str = Field(foreign_key="apps.id", index=True, max_length=32, ondelete="CASCADE")
    name: str = Field(max_length=63)
    command: str = Field(max_length=4000)
    schedule: str = Field(max_length=200)  # cron, five fields
    timezone: str = Field(default="UTC", max_length=64)
    timeout: int = 300  # seconds; the command is killed past it
    enabled: bool = True
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class AppTaskRun(SQLModel, table=True):
    """One run: ``running`` → ``succeeded`` (exit 0) | ``failed`` | ``timed_out`` | ``interrupted``."""

    __tablename__ = "app_task_runs"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    task_id: str = Field(foreign_key="app_tasks.id", index=True, max_length=32, ondelete="CASCADE")
    app_id: str = Field(foreign_key="apps.id", index=True, max_length=32, ondelete="CASCADE")
    trigger: str = Field(default="manual", max_length=10)  # manual | schedule
    status: str = Field(default="running", max_length=16)
    command: str = Field(max_length=4000)  # as it was when the run started
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    exit_code: int | None = None
    duration_ms: int | None = None
    output: str = ""
    output_truncated: bool = False
    error: str | None = None
    #: PostgreSQL with several control planes: the plane running it (engine/planes.py); a live plane ends a
    #: dead one's ``interrupted``. Null on SQLite.
    plane_id: str | None = Field(default=None, max_length=32)


class ScheduledDeployment(SQLModel, table=True):
    """A deployment of an app at one time (``at``) or on a cron (``schedule``), e.g. a nightly rebuild."""

    __tablename__ = "scheduled_deployments"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    app_id: str = Field(foreign_key="apps.id", index=True, max_length=32, ondelete="CASCADE")
    at: datetime | None = None
    schedule: str | None = Field(default=None, max_length=200)
    timezone: str = Field(default="UTC", max_length=64)
    no_cache: bool = False
    status: str = Field(default="scheduled", max_length=16)  # scheduled | done | failed (one-off)
    last_run_at: datetime | None = None
    last_deployment_id: str | None = Field(default=None, max_length=32)
    last_error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
