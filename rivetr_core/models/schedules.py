"""The scheduler's jobs and their runs (:mod:`rivetr_core.scheduler`).

A job's ``next_run_at`` is stored, already computed (cron slot plus jitter), so the server's loop only compares
timestamps and never parses cron itself. ``locked_until``/``lock_owner`` are the claim: a run starts only after
one UPDATE moved ``next_run_at`` on and took the lock, so two schedulers on one database, or a restarted one,
never run a slot twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from rivetr_core.db.engine import new_id, utcnow


class ScheduledJob(SQLModel, table=True):
    __tablename__ = "scheduled_jobs"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    name: str = Field(max_length=100, unique=True)
    kind: str = Field(max_length=64)  # a name in rivetr_core.scheduler's job kind registry
    args: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    cron: str = Field(max_length=200)
    timezone: str = Field(default="UTC", max_length=64)
    jitter_seconds: int = 0
    catch_up: bool = False  # a slot missed while the server was down: run once at start (True) or skip it
    enabled: bool = True
    next_run_at: datetime | None = Field(default=None, index=True)
    last_run_at: datetime | None = None
    last_status: str | None = Field(default=None, max_length=16)
    last_error: str | None = None
    locked_until: datetime | None = None
    lock_owner: str | None = Field(default=None, max_length=100)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class JobRun(SQLModel, table=True):
    """One run: ``running`` → ``succeeded`` | ``failed`` | ``interrupted`` (its process died mid-run)."""

    __tablename__ = "job_runs"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    job_id: str = Field(foreign_key="scheduled_jobs.id", index=True, max_length=32, ondelete="CASCADE")
    status: str = Field(default="running", max_length=16)
    scheduled_for: datetime
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    owner: str = Field(max_length=100)
    error: str | None = None
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
