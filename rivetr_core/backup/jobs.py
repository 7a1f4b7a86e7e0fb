"""Scheduler job kinds of volume and state backups to destinations, and their start-up recovery.

* ``backup_schedule`` (args ``{"schedule_id"}``): one run of a backup schedule, then its retention
  (:meth:`rivetr_core.services.backups.BackupService.run_schedule`). Every schedule has one job named
  ``backup-schedule:<id>``, created, changed and removed with the schedule.
* ``volume_backup`` (args ``{"app_id", "destination_id", "volumes"?}``): a one-off backup of an app's volumes
  (for jobs made by hand or by later features; schedules use ``backup_schedule``).
* ``service_backup`` (args ``{"service_id", "destination_id", "codec"?}``): a one-off backup of a managed
  service's data (schedules of services use ``backup_schedule`` too, with the schedule's ``service_id``).

:func:`start` (a ``CORE_SERVICES`` entry, before the scheduler's) registers them and marks the runs and restores
a stop of the server cut short ``failed`` ("interrupted by a server restart").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from quart import Quart

    from rivetr_core.context import RivetrContext


async def run_backup_schedule(ctx: RivetrContext, args: dict[str, Any]) -> dict[str, Any]:
    return await ctx.services.backups.run_schedule(str(args["schedule_id"]))


async def run_volume_backup(ctx: RivetrContext, args: dict[str, Any]) -> dict[str, Any]:
    service = ctx.services.backups
    row, app, dest, mounts = await service._prepare_app_backup(
        str(args["app_id"]), str(args["destination_id"]), args.get("volumes"), trigger="schedule"
    )
    done = await service._execute_backup(row, app, dest, mounts)
    if done.status != "succeeded":
        raise RuntimeError(done.error or "the backup failed")
    return {"backup_id": done.id, "size": done.size_bytes}


async def run_service_backup(ctx: RivetrContext, args: dict[str, Any]) -> dict[str, Any]:
    service = ctx.services.backups
    row, target, dest = await service._prepare_service_backup(
        str(args["service_id"]),
        str(args["destination_id"]),
        codec=str(args.get("codec") or "zst"),
        trigger="schedule",
    )
    done = await service._execute_service_backup(row, target, dest)
    if done.status != "succeeded":
        raise RuntimeError(done.error or "the backup failed")
    return {"backup_id": done.id, "size": done.size_bytes}


def register() -> None:
    from rivetr_core.scheduler.kinds import register_kind

    register_kind("backup_schedule", run_backup_schedule)
    register_kind("volume_backup", run_volume_backup)
    register_kind("service_backup", run_service_backup)


async def start(app: Quart, ctx: RivetrContext) -> None:
    """CORE_SERVICES entry: the job kinds, and runs interrupted by the last stop marked failed. The backup
    service (feature code, loaded on first use) loads here only when there is something to recover."""
    import sqlalchemy as sa

    register()
    async with ctx.db.engine.connect() as conn:
        interrupted = (
            await conn.execute(
                sa.text(
                    "SELECT EXISTS (SELECT 1 FROM backups WHERE status = 'running')"
                    " OR EXISTS (SELECT 1 FROM backup_restores WHERE status = 'running')"
                )
            )
        ).scalar()
    if interrupted:
        await ctx.services.backups.recover_interrupted()
