"""Scheduled jobs (:class:`rivetr_core.models.schedules.ScheduledJob`) as the API and the dashboard show them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rivetr_core.db import isoformat

if TYPE_CHECKING:
    from rivetr_core.db import Database


def schedule_json(job: Any) -> dict[str, Any]:
    """A scheduled job (:class:`rivetr_core.models.schedules.ScheduledJob`) as the API and dashboard show it."""
    return {
        "id": job.id,
        "name": job.name,
        "kind": job.kind,
        "cron": job.cron,
        "timezone": job.timezone,
        "jitter_seconds": job.jitter_seconds,
        "catch_up": job.catch_up,
        "enabled": job.enabled,
        "next_run_at": isoformat(job.next_run_at) if job.enabled else None,
        "last_run_at": isoformat(job.last_run_at),
        "last_status": job.last_status,
        "last_error": job.last_error,
        "running": job.lock_owner is not None,
    }


async def list_schedules(db: Database) -> list[dict[str, Any]]:
    """Every scheduled job by name (a handful: no paging)."""
    from sqlmodel import select as orm_select

    from rivetr_core.models.schedules import ScheduledJob

    async with db.session() as session:
        jobs = (await session.exec(orm_select(ScheduledJob).order_by(ScheduledJob.name))).all()
    return [schedule_json(j) for j in jobs]
