"""Backup schedules (part of :class:`~rivetr_core.services.backups.BackupService`): each a scheduler job
``backup-schedule:<id>`` of kind ``backup_schedule`` (:mod:`rivetr_core.backup.jobs`); after each successful
run its retention (:mod:`rivetr_core.backup.retention`) deletes the archives it no longer keeps."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlmodel import select

from rivetr_core.contract.errors import NotFound, RivetrError, ValidationFailed
from rivetr_core.db import isoformat, utcnow
from rivetr_core.models.backups import Backup, BackupSchedule, schedule_job_name
from rivetr_core.models.schedules import ScheduledJob

from .backup_base import log, utc_now
from .backup_responses import BackupScheduleOut, retention_text
from .backup_runs import RunsMixin
from .backup_service_runs import ServiceRunsMixin
from .backup_stack_runs import StackRunsMixin

if TYPE_CHECKING:
    from rivetr_core.pagination import PageQuery


def schedule_json(row: BackupSchedule, job: ScheduledJob | None) -> dict[str, Any]:
    return BackupScheduleOut(
        id=row.id,
        what=row.what,  # type: ignore[arg-type]
        app_id=row.app_id,
        service_id=row.service_id,
        stack_id=row.stack_id,
        destination_id=row.destination_id,
        cron=row.cron,
        timezone=row.timezone,
        keep_last=row.keep_last,
        keep_daily=row.keep_daily,
        keep_weekly=row.keep_weekly,
        retention=retention_text(row.keep_last, row.keep_daily, row.keep_weekly),
        enabled=row.enabled,
        job_name=schedule_job_name(row.id),
        next_run_at=isoformat(job.next_run_at) if job and job.enabled else None,  # paused: none coming
        last_run_at=isoformat(job.last_run_at) if job else None,
        last_status=job.last_status if job else None,
        created_at=isoformat(row.created_at),
        updated_at=isoformat(row.updated_at),
    ).model_dump(mode="json")


class SchedulesMixin(RunsMixin, ServiceRunsMixin, StackRunsMixin):
    async def get_schedule(self, schedule_id: str) -> BackupSchedule:
        row: BackupSchedule = await self._get(BackupSchedule, schedule_id, "backup schedule")
        return row

    async def schedule_json(self, row: BackupSchedule) -> dict[str, Any]:
        async with self.ctx.db.session() as session:
            job = (
                await session.exec(select(ScheduledJob).where(ScheduledJob.name == schedule_job_name(row.id)))
            ).first()
        return schedule_json(row, job)

    async def list_schedules(
        self,
        page: PageQuery,
        *,
        app_id: str | None = None,
        service_id: str | None = None,
        stack_id: str | None = None,
    ) -> tuple[list[BackupSchedule], str | None]:
        from rivetr_core.pagination import keyset_page

        stmt = select(BackupSchedule)
        if app_id is not None:
            stmt = stmt.where(BackupSchedule.app_id == app_id)
        if service_id is not None:
            stmt = stmt.where(BackupSchedule.service_id == service_id)
        if stack_id is not None:
            stmt = stmt.where(BackupSchedule.stack_id == stack_id)
        async with self.ctx.db.session() as session:
            return await keyset_page(session, stmt, BackupSchedule, page)

    async def _check_schedule(self, values: dict[str, Any]) -> None:
        from rivetr_core.scheduler.cron import CronError, next_run

        owners = ("app_id", "service_id", "stack_id")
        given = [k for k in owners if values.get(k)]
        if values["what"] == "volumes" and given in (["service_id"], ["stack_id"]):
            # service_id or stack_id in place of app_id: a schedule of that service's or stack's backups
            values["what"] = "service" if given == ["service_id"] else "stack"
        owner = {"volumes": "app_id", "service": "service_id", "stack": "stack_id"}.get(values["what"])
        if owner is None:  # state
            if given:
                raise ValidationFailed.on(given[0], "a state backup schedule has no app, service or stack")
        else:
            what = {
                "app_id": "volume backups names its app",
                "service_id": "service backups names its service",
            }
            if not values.get(owner):
                raise ValidationFailed.on(
                    owner, "a schedule of " + what.get(owner, "stack backups names its stack")
                )
            for other in given:
                if other != owner:
                    raise ValidationFailed.on(other, "a schedule names one app, service or stack")
            if owner == "app_id":
                await self._get_app(values["app_id"], "app_id")
            elif owner == "service_id":
                await self._service_target(values["service_id"], "service_id")
            else:
                values["stack_id"] = (await self._stack(values["stack_id"], "stack_id")).id
        await self.get_destination(values["destination_id"], "destination_id")
        for field in ("keep_last", "keep_daily", "keep_weekly"):
            if not isinstance(values[field], int) or values[field] < 0:
                raise ValidationFailed.on(field, "a count >= 0 (0: rule not used)")
        if not (values["keep_last"] or values["keep_daily"] or values["keep_weekly"]):
            raise ValidationFailed.on(
                "keep_last", "set at least one of keep_last, keep_daily, keep_weekly above 0"
            )
        try:
            await next_run(values["cron"], values["timezone"], utc_now())
        except CronError as exc:
            field = "timezone" if "time zone" in str(exc) else "cron"
            raise ValidationFailed.on(field, str(exc)) from None

    async def _ensure_job(self, row: BackupSchedule) -> None:
        await self._scheduler().ensure_job(
            schedule_job_name(row.id),
            "backup_schedule",
            row.cron,
            timezone=row.timezone,
            args={"schedule_id": row.id},
            catch_up=True,  # a backup missed while the server was down runs once at start
            enabled=row.enabled,
        )

    async def create_schedule(self, fields: Mapping[str, Any]) -> BackupSchedule:
        values: dict[str, Any] = {
            "what": "volumes",
            "app_id": None,
            "service_id": None,
            "stack_id": None,
            "timezone": "UTC",
            "keep_last": 0,
            "keep_daily": 0,
            "keep_weekly": 0,
            "enabled": True,
            **{k: v for k, v in fields.items() if v is not None},
        }
        await self._check_schedule(values)
        row = BackupSchedule(**values)
        async with self.ctx.db.session() as session:
            session.add(row)
            await session.commit()
            await session.refresh(row)
        await self._ensure_job(row)
        return row

    async def update_schedule(
        self, schedule_id: str, fields: Mapping[str, Any], *, managed_ok: bool = False
    ) -> BackupSchedule:
        """Change the ``fields`` given (a partial update: each must have a value, null is refused). 409
        ``managed_by_file`` for a schedule its app's repository file declares, unless ``managed_ok`` (that
        file's deployment, or ``rivetr apply`` once it checked its plan)."""
        await self._refuse_managed_schedule(schedule_id, managed_ok)
        for key, value in fields.items():
            if value is None:
                raise ValidationFailed.on(key, "must not be null")
        row = await self.get_schedule(schedule_id)
        values = {
            "what": row.what,
            "app_id": row.app_id,
            "service_id": row.service_id,
            "stack_id": row.stack_id,
            "destination_id": row.destination_id,
            "cron": row.cron,
            "timezone": row.timezone,
            "keep_last": row.keep_last,
            "keep_daily": row.keep_daily,
            "keep_weekly": row.keep_weekly,
            "enabled": row.enabled,
            **fields,
        }
        if values["what"] != row.what:
            raise ValidationFailed.on("what", "cannot change; delete the schedule and create another")
        await self._check_schedule(values)
        async with self.ctx.db.session() as session:
            found = await session.get(BackupSchedule, schedule_id)
            if found is None:
                raise NotFound.of("backup schedule", schedule_id)
            for key, value in values.items():
                setattr(found, key, value)
            found.updated_at = utcnow()
            session.add(found)
            await session.commit()
            await session.refresh(found)
        await self._ensure_job(found)
        return found

    async def delete_schedule(self, schedule_id: str, *, managed_ok: bool = False) -> None:
        """The schedule and its job go; its backups (and their archives) stay. 409 ``managed_by_file`` as
        :meth:`update_schedule`."""
        await self._refuse_managed_schedule(schedule_id, managed_ok)
        await self.get_schedule(schedule_id)
        async with self.ctx.db.session() as session:
            found = await session.get(BackupSchedule, schedule_id)
            if found is not None:
                await session.delete(found)
                await session.commit()
        await self._delete_job(schedule_id)

    async def _refuse_managed_schedule(self, schedule_id: str, managed_ok: bool) -> None:
        """A schedule the app's repository file declares (destination and cron) is the file's: the next
        deployment would put it back (rivetr_core.iac.managed, loaded on first use)."""
        if managed_ok:
            return
        from rivetr_core.iac.managed import refuse_managed_schedule

        await refuse_managed_schedule(self.ctx.db, schedule_id)

    async def run_schedule(self, schedule_id: str) -> dict[str, Any]:
        """The ``backup_schedule`` job: one run, then retention. Raises when the run failed, so the job's run
        is recorded failed too."""
        async with self.ctx.db.session() as session:
            sched = await session.get(BackupSchedule, schedule_id)
        if sched is None:  # deleted with its app (the job outlived it): the job removes itself
            await self._delete_job(schedule_id)
            return {"skipped": "the schedule no longer exists"}
        if sched.what == "volumes":
            assert sched.app_id is not None
            row, app, dest, mounts = await self._prepare_app_backup(
                sched.app_id, sched.destination_id, None, trigger="schedule", schedule_id=sched.id
            )
            done = await self._execute_backup(row, app, dest, mounts)
        elif sched.what == "service":
            assert sched.service_id is not None
            srow, target, dest = await self._prepare_service_backup(
                sched.service_id, sched.destination_id, trigger="schedule", schedule_id=sched.id
            )
            done = await self._execute_service_backup(srow, target, dest)
        elif sched.what == "stack":
            assert sched.stack_id is not None
            krow, stack, dest, chosen = await self._prepare_stack_backup(
                sched.stack_id, sched.destination_id, None, trigger="schedule", schedule_id=sched.id
            )
            done = await self._execute_stack_backup(krow, stack, dest, chosen)
        else:
            state_row, dest = await self.start_state_backup(
                sched.destination_id, trigger="schedule", schedule_id=sched.id
            )
            done = await self._execute_state_backup(state_row, dest)
        if done.status != "succeeded":
            raise RuntimeError(done.error or "the backup failed")
        expired = await self.apply_retention(sched)
        return {"backup_id": done.id, "size": done.size_bytes, "expired": expired}

    async def apply_retention(self, sched: BackupSchedule) -> list[str]:
        """Delete the succeeded backups of the schedule its rules no longer keep (archive, then row); a failed
        deletion is logged and retried at the next run."""
        from zoneinfo import ZoneInfo

        from rivetr_core.backup.retention import expired

        async with self.ctx.db.session() as session:
            rows = (
                await session.exec(
                    select(Backup).where(Backup.schedule_id == sched.id, Backup.status == "succeeded")
                )
            ).all()
        gone = expired(
            [(r.id, r.started_at) for r in rows],
            keep_last=sched.keep_last,
            keep_daily=sched.keep_daily,
            keep_weekly=sched.keep_weekly,
            tz=ZoneInfo(sched.timezone),
        )
        deleted = []
        for backup_id in gone:
            try:
                await self.delete_backup(backup_id)
                deleted.append(backup_id)
            except RivetrError as exc:
                log.warning("retention: could not delete backup %s: %s", backup_id, exc.message)
        return deleted
