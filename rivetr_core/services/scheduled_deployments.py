"""``ScheduledDeploymentService``: deployments of an app at a set time (``at``, once) or on a cron
(``schedule``, e.g. a nightly rebuild with ``no_cache``); ``/api/apps/{id}/scheduled-deployments``, see
docs/tasks.md.

Each has one scheduler job ``scheduled-deploy:<id>`` of kind ``scheduled_deploy``
(:mod:`rivetr_core.scheduler.app_jobs`). A one-off's job carries a cron of its minute (the scheduler's jobs are
cron jobs) but its ``next_run_at`` is set to ``at`` itself, and it is disabled once it ran: it never fires again.
A one-off missed while the server was down runs at the next start (``catch_up``); a recurring one skips to its
next slot. The deployment started records ``trigger: "schedule"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlmodel import col, select

from rivetr_core.contract.errors import NotFound, RivetrError, ValidationFailed
from rivetr_core.db import aware, isoformat, utcnow
from rivetr_core.models.schedules import ScheduledJob
from rivetr_core.models.tasks import ScheduledDeployment, deploy_job_name

from .task_responses import ScheduledDeploymentOut
from .tasks import TaskService, check_cron, unrestricted

if TYPE_CHECKING:
    from rivetr_core.context import RivetrContext

#: How far ahead a one-off may be set (its job's cron names a day of a year, not the year).
MAX_AHEAD = timedelta(days=365)


def parse_at(value: str) -> datetime:
    """An RFC 3339 time (``2026-05-01T03:00:00Z``, an offset, or naive meaning UTC) as aware UTC."""
    try:
        when = datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError:
        raise ValidationFailed.on(
            "at", f"not an RFC 3339 time: {value!r} (e.g. 2026-05-01T03:00:00Z)"
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


class ScheduledDeploymentService:
    def __init__(self, ctx: RivetrContext) -> None:
        self.ctx = ctx
        self.tasks = TaskService(ctx)

    async def get(self, app_id: str, sd_id: str) -> ScheduledDeployment:
        await self.tasks.app(app_id)
        async with self.ctx.db.session() as session:
            row = await session.get(ScheduledDeployment, sd_id)
        if row is None or row.app_id != app_id:
            raise NotFound.of("scheduled deployment", sd_id)
        return row

    async def list_scheduled(self, app_id: str) -> list[ScheduledDeployment]:
        await self.tasks.app(app_id)
        async with self.ctx.db.session() as session:
            stmt = (
                select(ScheduledDeployment)
                .where(ScheduledDeployment.app_id == app_id)
                .order_by(col(ScheduledDeployment.created_at))
            )
            return list((await session.exec(stmt)).all())

    async def rows_json(self, rows: list[ScheduledDeployment]) -> list[dict[str, Any]]:
        names = [deploy_job_name(r.id) for r in rows]

        async def read() -> dict[str, ScheduledJob]:
            async with self.ctx.db.session() as session:
                found = (
                    await session.exec(select(ScheduledJob).where(col(ScheduledJob.name).in_(names)))
                ).all()
            return {j.name: j for j in found}

        jobs = await unrestricted(read()) if names else {}
        out = []
        for r in rows:
            job = jobs.get(deploy_job_name(r.id))
            out.append(
                ScheduledDeploymentOut(
                    id=r.id,
                    app_id=r.app_id,
                    kind="once" if r.at is not None else "cron",
                    at=isoformat(r.at),
                    schedule=r.schedule,
                    timezone=r.timezone,
                    no_cache=r.no_cache,
                    status=r.status,  # type: ignore[arg-type]
                    next_run_at=isoformat(job.next_run_at) if job and job.enabled else None,
                    last_run_at=isoformat(r.last_run_at),
                    last_deployment_id=r.last_deployment_id,
                    last_error=r.last_error,
                    created_at=isoformat(r.created_at),
                ).model_dump(mode="json")
            )
        return out

    async def create(self, app_id: str, fields: Mapping[str, Any]) -> ScheduledDeployment:
        app = await self.tasks.app(app_id)
        at_text, schedule = fields.get("at"), fields.get("schedule")
        timezone = fields.get("timezone") or "UTC"
        no_cache = bool(fields.get("no_cache") or False)
        if (at_text is None) == (schedule is None):
            raise ValidationFailed.on(
                "at", "give either at (one time, RFC 3339) or schedule (cron), not both"
            )
        if no_cache and app.source_kind == "image":
            raise ValidationFailed.on("no_cache", f"app {app.name!r} runs a pre-built image: it has no build")
        at: datetime | None = None
        cron_expr: str
        if at_text is not None:
            at = parse_at(str(at_text))
            now = utcnow()
            if at <= now:
                raise ValidationFailed.on("at", "must be in the future")
            if at > now + MAX_AHEAD:
                raise ValidationFailed.on("at", "at most a year ahead")
            cron_expr = f"{at.minute} {at.hour} {at.day} {at.month} *"
            timezone = "UTC"
        else:
            cron_expr = " ".join(str(schedule).split())
            if not cron_expr:
                raise ValidationFailed.on("schedule", "a cron expression (five fields) is required")
            await check_cron(cron_expr, timezone)
        row = ScheduledDeployment(
            app_id=app_id, at=at, schedule=None if at else cron_expr, timezone=timezone, no_cache=no_cache
        )
        async with self.ctx.db.session() as session:
            session.add(row)
            await session.commit()
            await session.refresh(row)
        scheduler = self.tasks._scheduler()
        if scheduler is not None:
            job = await unrestricted(
                scheduler.ensure_job(
                    deploy_job_name(row.id),
                    "scheduled_deploy",
                    cron_expr,
                    timezone=timezone,
                    args={"scheduled_id": row.id},
                    catch_up=at is not None,
                )
            )
            if at is not None:  # to the second: the cron only names the minute
                await unrestricted(self._set_next(job.id, at))
                scheduler.wake()
        return row

    async def _set_next(self, job_id: str, when: datetime) -> None:
        async with self.ctx.db.session() as session:
            await session.exec(  # type: ignore[call-overload]
                sa.update(ScheduledJob).where(ScheduledJob.id == job_id).values(next_run_at=when)  # type: ignore[arg-type]
            )
            await session.commit()

    async def delete(self, app_id: str, sd_id: str) -> None:
        """Cancel: the row and its job go (a deployment it already started is not touched)."""
        await self.get(app_id, sd_id)
        async with self.ctx.db.session() as session:
            row = await session.get(ScheduledDeployment, sd_id)
            if row is not None:
                await session.delete(row)
                await session.commit()
        scheduler = self.tasks._scheduler()
        if scheduler is not None:
            await unrestricted(scheduler.delete_job(deploy_job_name(sd_id)))

    async def run_scheduled(self, sd_id: str) -> dict[str, Any]:
        """The ``scheduled_deploy`` job: queue a deployment with ``trigger="schedule"``. Raises when the app
        refused it (being deleted, no_cache on an image app...), so the scheduler's record says failed."""
        async with self.ctx.db.session() as session:
            row = await session.get(ScheduledDeployment, sd_id)
        scheduler = self.tasks._scheduler()
        if row is None:
            if scheduler is not None:
                await scheduler.delete_job(deploy_job_name(sd_id))
            return {"skipped": "the scheduled deployment no longer exists"}
        deployment_id, error = None, None
        try:
            dep = await self.ctx.services.apps.deploy(row.app_id, trigger="schedule", no_cache=row.no_cache)
            deployment_id = dep.id
        except RivetrError as exc:
            error = exc.message
        async with self.ctx.db.session() as session:
            found = await session.get(ScheduledDeployment, sd_id)
            if found is not None:
                found.last_run_at, found.last_deployment_id, found.last_error = utcnow(), deployment_id, error
                if found.at is not None:
                    found.status = "failed" if error else "done"
                session.add(found)
                await session.commit()
        if row.at is not None and scheduler is not None:  # a one-off never fires again
            async with self.ctx.db.session() as session:
                await session.exec(  # type: ignore[call-overload]
                    sa.update(ScheduledJob)
                    .where(ScheduledJob.name == deploy_job_name(sd_id))  # type: ignore[arg-type]
                    .values(enabled=False)
                )
                await session.commit()
        if error:
            raise RuntimeError(error)
        return {"deployment_id": deployment_id, "at": isoformat(aware(row.at)) if row.at else None}
