"""``BackupService`` (``ctx.services.backups``): destinations, backup runs of apps' volumes and of Rivetr's own
state, restores, and backup schedules with their retention.

The heavy work (tar, zstd/gzip, encryption, S3 uploads) runs in the backup worker, a child process
(:mod:`rivetr_core.backup.runner`), so the control plane never imports boto3 or zstandard and its memory stays
flat while gigabytes stream. This module decides what to copy and keeps the app consistent around the copy:

* **Consistency** (per app, ``backup_consistency``): ``pause`` freezes the app's running container(s) for the
  copy and always thaws them (``finally``); ``command`` runs ``pre_backup_command`` in the container first (a
  dump the archive then holds) and fails the run if it exits non-zero; ``none`` copies live files. An app
  with no running container is at rest: copied as it is.
* **Runs** are rows (``running`` → ``succeeded`` | ``failed``) updated with the archive's size, sha256,
  duration or the error, and raise ``backup_succeeded`` / ``backup_failed`` events either way, so silence is
  never mistaken for success. They run as background tasks of the context (shutdown cancels them: a cancelled
  run is recorded failed and the container thawed); a run a ``kill -9`` cut short is marked failed at the next
  start-up (:meth:`BackupService.recover_interrupted`).
* **Restores** stage the archive next to the live data while the app keeps running (checksum, decryption and
  extraction all happen there), then stop the app's container, swap the staged files in (renames), start it and
  health-check it. Any failure before the swap discards the staging and leaves the live data untouched.
* **Services** (managed databases): a logical dump streamed out of the service's container into the worker,
  restored by streaming it back in (:mod:`.backup_service_runs`).
* **Stacks** (compose stacks' named volumes): archived and restored like an app's volumes, the services mounting
  them paused for the copy and stopped for the swap (:mod:`.backup_stack_runs`).
* **Schedules** are scheduler jobs ``backup-schedule:<id>`` (kind ``backup_schedule``, see
  :mod:`rivetr_core.backup.jobs`); after each successful run the schedule's retention
  (:mod:`rivetr_core.backup.retention`) deletes the archives it no longer keeps.

At most one backup or restore runs per app (service, stack) at a time (409 otherwise).
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from sqlmodel import select

from rivetr_core.db import utcnow
from rivetr_core.models.backups import Backup, BackupRestore

from .backup_base import INTERRUPTED, StepFailed
from .backup_destinations import DestinationsMixin
from .backup_responses import backup_json, restore_json
from .backup_restores import RestoresMixin
from .backup_schedules import SchedulesMixin, schedule_json
from .backup_service_runs import ServiceRunsMixin
from .backup_stack_runs import StackRunsMixin

__all__ = ["BackupService", "StepFailed", "backup_json", "restore_json", "schedule_json"]

log = logging.getLogger("rivetr.backups")


class BackupService(SchedulesMixin, ServiceRunsMixin, StackRunsMixin, RestoresMixin, DestinationsMixin):
    """``ctx.services.backups``: the parts are mixins, one module each (see :mod:`.backup_base`)."""

    async def recover_interrupted(self) -> int:
        """At start-up: mark the runs and restores a stop of the server cut short (``running``) failed. A cut
        short restore may have left its staging, or a swap half done, in the app's (or stack's) volumes: those
        are settled in the background once the engine answers (:meth:`settle_interrupted_restores`)."""
        now = utcnow()
        async with self.ctx.db.session() as session:
            restores = list(
                (
                    await session.exec(
                        select(BackupRestore).where(
                            BackupRestore.status == "running",
                            sa.or_(
                                BackupRestore.app_id.is_not(None),  # type: ignore[union-attr]
                                BackupRestore.stack_id.is_not(None),  # type: ignore[union-attr]
                            ),
                        )
                    )
                ).all()
            )
            count = 0
            for model in (Backup, BackupRestore):  # what has no volumes to settle: failed at once
                result = await session.exec(  # type: ignore[call-overload]
                    sa.update(model)
                    .where(model.status == "running")  # type: ignore[attr-defined, arg-type]
                    .where(model.id.not_in([r.id for r in restores]))  # type: ignore[attr-defined]
                    .values(status="failed", error=INTERRUPTED, finished_at=now)
                )
                count += result.rowcount or 0
            count += len(restores)
            await session.commit()
        if restores:
            self.ctx.spawn(self.settle_interrupted_restores(restores), "backup-restore-recovery")
        if count:
            log.warning("backups: %d run(s) or restore(s) were interrupted by a stop of the server", count)
        return count

    async def settle_interrupted_restores(self, restores: list[BackupRestore]) -> None:
        """Settle each interrupted restore's volumes (the worker's ``recover``: a swap already decided is
        completed, anything else rolled back, staging removed; see :mod:`rivetr_core.backup.swap`), under the
        app's switch lock (a stack's deployment lock), then record the restore failed saying which way it went."""
        for row in restores:
            outcome = "its volumes could not be checked"
            app_id = str(row.app_id)
            try:
                if row.app_id is None:  # a stack's restore
                    report = await self.settle_stack_restore(row)
                else:
                    report = await self._settle_app_restore(row, app_id)
                outcome = self._settled(report)
            except Exception as exc:
                log.warning("settling interrupted restore %s failed: %s", row.id, exc)
                outcome += f" ({exc})"
            await self._finish(BackupRestore, row.id, status="failed", error=f"{INTERRUPTED}; {outcome}")

    async def _settle_app_restore(self, row: BackupRestore, app_id: str) -> list[dict[str, Any]]:
        runtime = await self._volume_runtime()
        mounts = {v.name: v for v in await self.ctx.services.volumes.for_app(app_id)}
        dirs = [
            {"name": name, "path": await self._volume_dir(runtime, app_id, mounts[name])}
            for name in (v["name"] for v in row.volumes or [])
            if name in mounts
        ]
        if not dirs:
            return []
        async with self._switch_lock(app_id):
            report: list[dict[str, Any]] = (await self._worker({"op": "recover", "targets": dirs}))[
                "recovered"
            ]
        return report

    @staticmethod
    def _settled(report: list[dict[str, Any]]) -> str:
        """Which way the worker's ``recover`` settled an interrupted restore, for its ``error``."""
        if "completed" in {r["action"] for r in report}:
            return "the swap had been decided: the restored data is in place"
        return "the live data is as it was before the restore"
