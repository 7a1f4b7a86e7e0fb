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
* **Schedules** are scheduler jobs ``backup-schedule:<id>`` (kind ``backup_schedule``, see
  :mod:`rivetr_core.backup.jobs`); after each successful run the schedule's retention
  (:mod:`rivetr_core.backup.retention`) deletes the archives it no longer keeps.

At most one backup or restore runs per app at a time (409 otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import func, select

from rivetr_core.contract.errors import Conflict, NotFound, RivetrError, ValidationFailed
from rivetr_core.db import isoformat, utcnow
from rivetr_core.models.apps import App, Deployment
from rivetr_core.models.backups import (
    Backup,
    BackupDestination,
    BackupRestore,
    BackupSchedule,
    schedule_job_name,
)
from rivetr_core.models.schedules import ScheduledJob
from rivetr_core.models.volumes import Volume, engine_volume_name

from .backup_destinations import (
    BackupWorkerError,
    DestinationCheckFailed,
    check_fields,
    describe,
    destination_json,
    seal,
    unseal,
    worker_destination,
)
from .volumes import volume_labels

if TYPE_CHECKING:
    from rivetr_core.context import RivetrContext
    from rivetr_core.pagination import PageQuery

log = logging.getLogger("rivetr.backups")

VOLUME_METHODS = ("volume_path", "pause", "unpause", "start")
INTERRUPTED = "interrupted by a server restart"
Worker = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class StepFailed(Exception):
    """A step of a run failed for a reason worth showing as it is (the row's ``error``)."""


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(at: datetime) -> str:
    return at.strftime("%Y%m%dT%H%M%SZ")


def _worker_failure(exc: BaseException) -> tuple[str, str, Any] | None:
    """``(code, message, details)`` of the worker's ``BackupFailed`` (None for anything else)."""
    if type(exc).__name__ != "BackupFailed":
        return None
    return (
        str(getattr(exc, "code", "backup_failed")),
        str(getattr(exc, "message", exc)),
        getattr(exc, "details", None),
    )


def backup_json(row: Backup) -> dict[str, Any]:
    return {
        "id": row.id,
        "what": row.what,
        "app_id": row.app_id,
        "app_name": row.app_name,
        "destination_id": row.destination_id,
        "schedule_id": row.schedule_id,
        "trigger": row.trigger,
        "status": row.status,
        "key": row.key,
        "codec": row.codec,
        "encrypted": row.encrypted,
        "size_bytes": row.size_bytes,
        "sha256": row.sha256,
        "duration_ms": row.duration_ms,
        "volumes": row.volumes or [],
        "consistency": row.consistency,
        "error": row.error,
        "started_at": isoformat(row.started_at),
        "finished_at": isoformat(row.finished_at),
    }


def restore_json(row: BackupRestore) -> dict[str, Any]:
    return {
        "id": row.id,
        "backup_id": row.backup_id,
        "app_id": row.app_id,
        "status": row.status,
        "volumes": row.volumes or [],
        "error": row.error,
        "started_at": isoformat(row.started_at),
        "finished_at": isoformat(row.finished_at),
    }


def schedule_json(row: BackupSchedule, job: ScheduledJob | None) -> dict[str, Any]:
    return {
        "id": row.id,
        "what": row.what,
        "app_id": row.app_id,
        "destination_id": row.destination_id,
        "cron": row.cron,
        "timezone": row.timezone,
        "keep_last": row.keep_last,
        "keep_daily": row.keep_daily,
        "keep_weekly": row.keep_weekly,
        "enabled": row.enabled,
        "job_name": schedule_job_name(row.id),
        "next_run_at": isoformat(job.next_run_at) if job else None,
        "last_run_at": isoformat(job.last_run_at) if job else None,
        "last_status": job.last_status if job else None,
        "created_at": isoformat(row.created_at),
        "updated_at": isoformat(row.updated_at),
    }


def _volume_entry(v: Volume) -> dict[str, Any]:
    return {"name": v.name, "mount_path": v.mount_path, "kind": v.kind}


class BackupService:
    def __init__(self, ctx: RivetrContext) -> None:
        self.ctx = ctx
        #: Replaces the backup worker (``run_worker``) in unit tests of this module's logic.
        self.worker: Worker | None = None
        #: app id → id of the backup or restore running for it.
        self._busy: dict[str, str] = {}
        #: run or restore id → its task (tests await them; shutdown cancels them through ``ctx.spawn``).
        self.tasks: dict[str, asyncio.Task[Any]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    # ------------------------------------------------------------------------------------------ plumbing
    async def _worker(self, request: dict[str, Any], *, check: bool = False) -> dict[str, Any]:
        """One worker operation; its failure becomes :class:`DestinationCheckFailed` (``check``) or
        :class:`BackupWorkerError`, both naming the worker's code in ``details.problem``."""
        try:
            if self.worker is not None:
                return await self.worker(request)
            from rivetr_core.backup.runner import run_worker

            return await run_worker(request)
        except Exception as exc:
            failure = _worker_failure(exc)
            if failure is None:
                raise
            code, message, details = failure
            extra = {"problem": code, **(details if isinstance(details, dict) else {})}
            error = DestinationCheckFailed if check else BackupWorkerError
            raise error(message, details=extra) from None

    def _spawn(self, ident: str, coro: Any, name: str) -> None:
        task = self.ctx.spawn(coro, name)
        self.tasks[ident] = task
        task.add_done_callback(lambda _t: self.tasks.pop(ident, None))

    async def wait(self, ident: str) -> None:
        """Wait for a run or restore started here to finish (tests, the scheduler's job)."""
        task = self.tasks.get(ident)
        if task is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(task)

    def _instance_id(self) -> str:
        return str(getattr(self.ctx.services.get("deployments"), "instance_id", "") or "")

    def _switch_lock(self, app_id: str) -> asyncio.Lock:
        """The deployments' switch lock of the app: the crash watcher leaves the app alone while a restore has
        stopped (or a backup paused) its container, and no deployment switches containers meanwhile."""
        deployments = self.ctx.services.get("deployments")
        if deployments is not None:
            lock: asyncio.Lock = deployments.switch_lock(app_id)
            return lock
        return self._locks.setdefault(app_id, asyncio.Lock())

    async def _volume_runtime(self) -> Any:
        """The runtime, when it can reach volume data on this host; 409 naming it otherwise."""
        runtime = await self.ctx.runtime()
        missing = [m for m in VOLUME_METHODS if not callable(getattr(runtime, m, None))]
        if missing:
            raise Conflict(
                f"runtime {runtime.name} cannot back up volumes (it lacks {', '.join(missing)})",
                code="runtime_unsupported",
                details={"runtime": runtime.name, "missing": missing},
            )
        return runtime

    async def _volume_dir(self, runtime: Any, app_id: str, volume: Volume) -> str:
        """The host directory of one of the app's mounts (a named volume is created when missing, empty)."""
        if volume.kind == "bind":
            path = volume.host_path or ""
            if not os.path.isdir(path):
                raise StepFailed(f"bind mount {volume.name}: host directory {path} does not exist")
            return path
        labels = volume_labels(self._instance_id(), app_id, volume.name)
        if not labels["rivetr.instance"]:
            labels.pop("rivetr.instance")
        path = await runtime.volume_path(engine_volume_name(app_id, volume.name), labels, create=True)
        if not path:
            raise StepFailed(
                f"volume {volume.name}: its data directory is not reachable from this host (a remote or "
                f"rootless {runtime.name} engine); backups read volumes on the engine's host"
            )
        return str(path)

    async def _running_containers(self, runtime: Any, app_id: str) -> list[Any]:
        labels = {"rivetr.app": app_id}
        if instance := self._instance_id():
            labels["rivetr.instance"] = instance
        return [c for c in await runtime.list(labels=labels, all=False) if c.running]

    def _claim(self, app_id: str, ident: str) -> None:
        if app_id in self._busy:
            raise Conflict(
                f"a backup or restore of this app is in progress ({self._busy[app_id]}); wait for it to finish",
                code="backup_in_progress",
                details={"running": self._busy[app_id]},
            )
        self._busy[app_id] = ident

    def _emit(self, kind: str, message: str, *, level: str, app: App | None, data: dict[str, Any]) -> None:
        from rivetr_core.contract.events import RivetrEvent

        self.ctx.emit(
            RivetrEvent(
                type=kind,
                message=message,
                level=level,  # type: ignore[arg-type]
                app_id=app.id if app else None,
                app_name=app.name if app else None,
                data=data,
            )
        )

    # -------------------------------------------------------------------------------------- destinations
    async def get_destination(self, destination_id: str, field: str | None = None) -> BackupDestination:
        async with self.ctx.db.session() as session:
            row = await session.get(BackupDestination, destination_id)
        if row is None:
            if field:
                message = f"no backup destination with id {destination_id!r}"
                raise NotFound(f"{field}: {message}", details=[{"field": field, "message": message}])
            raise NotFound.of("backup destination", destination_id)
        return row

    async def list_destinations(self, page: PageQuery) -> tuple[list[BackupDestination], str | None]:
        from rivetr_core.pagination import keyset_page

        async with self.ctx.db.session() as session:
            return await keyset_page(session, select(BackupDestination), BackupDestination, page)

    def destination_json(self, row: BackupDestination) -> dict[str, Any]:
        return destination_json(self.ctx.secrets, row)

    async def create_destination(self, fields: Mapping[str, Any]) -> BackupDestination:
        """Check the fields, run the test write (422 ``destination_check_failed`` naming the problem), then
        store it with its secrets encrypted."""
        name, kind, config, secret = check_fields(fields)
        async with self.ctx.db.session() as session:
            taken = (
                await session.exec(select(BackupDestination).where(BackupDestination.name == name))
            ).first()
        if taken is not None:
            raise Conflict.on("name", "already used by another backup destination")
        row = BackupDestination(
            name=name, kind=kind, config=config, secret_enc=seal(self.ctx.secrets, secret)
        )
        await self._test_write(row)
        try:
            async with self.ctx.db.session() as session:
                session.add(row)
                await session.commit()
                await session.refresh(row)
        except IntegrityError:
            raise Conflict.on("name", "already used by another backup destination") from None
        return row

    async def _test_write(self, row: BackupDestination) -> None:
        request = {"op": "test", "destination": worker_destination(self.ctx.secrets, row)}
        await self._worker(request, check=True)

    async def test_destination(self, destination_id: str) -> None:
        await self._test_write(await self.get_destination(destination_id))

    async def delete_destination(self, destination_id: str, *, force: bool = False) -> None:
        """409 while schedules use it or backups reference it, unless ``force`` (then those rows go too; the
        archives at the destination are never deleted by this). Always 409 while a run writes there."""
        row = await self.get_destination(destination_id)
        async with self.ctx.db.session() as session:
            schedules = list(
                (
                    await session.exec(
                        select(BackupSchedule).where(BackupSchedule.destination_id == destination_id)
                    )
                ).all()
            )
            counts = {
                status: n
                for status, n in (
                    await session.exec(
                        select(Backup.status, func.count())
                        .where(Backup.destination_id == destination_id)
                        .group_by(Backup.status)
                    )
                ).all()
            }
        if counts.get("running"):
            raise Conflict(
                f"a backup is being written to {row.name}; wait for it to finish",
                code="destination_in_use",
                details={"running": counts["running"]},
            )
        backups = sum(counts.values())
        if (schedules or backups) and not force:
            raise Conflict(
                f"destination {row.name} is used by {len(schedules)} schedule(s) and {backups} backup(s); "
                "delete those first or pass ?force=true (their rows go, the archives stay where they are)",
                code="destination_in_use",
                details={"schedules": len(schedules), "backups": backups},
            )
        for schedule in schedules:
            await self._delete_job(schedule.id)
        async with self.ctx.db.session() as session:
            await session.exec(sa.delete(Backup).where(Backup.destination_id == destination_id))  # type: ignore[call-overload, arg-type]
            await session.exec(
                sa.delete(BackupSchedule).where(BackupSchedule.destination_id == destination_id)  # type: ignore[call-overload, arg-type]
            )
            found = await session.get(BackupDestination, destination_id)
            if found is not None:
                await session.delete(found)
            await session.commit()

    # ---------------------------------------------------------------------------------------------- runs
    async def get_backup(self, backup_id: str) -> Backup:
        async with self.ctx.db.session() as session:
            row = await session.get(Backup, backup_id)
        if row is None:
            raise NotFound.of("backup", backup_id)
        return row

    async def list_backups(
        self, page: PageQuery, *, app_id: str | None = None, status: str | None = None
    ) -> tuple[list[Backup], str | None]:
        """Newest first."""
        from rivetr_core.pagination import keyset_page

        stmt = select(Backup)
        if app_id is not None:
            stmt = stmt.where(Backup.app_id == app_id)
        if status is not None:
            stmt = stmt.where(Backup.status == status)
        async with self.ctx.db.session() as session:
            return await keyset_page(session, stmt, Backup, page, newest_first=True, time_attr="started_at")

    async def _get_app(self, app_id: str, field: str | None = None) -> App:
        async with self.ctx.db.session() as session:
            app = await session.get(App, app_id)
        if app is None:
            if field:
                message = f"no app with id {app_id!r}"
                raise NotFound(f"{field}: {message}", details=[{"field": field, "message": message}])
            raise NotFound.of("app", app_id)
        return app

    async def _prepare_app_backup(
        self,
        app_id: str,
        destination_id: str,
        volumes: list[str] | None,
        *,
        codec: str = "zst",
        trigger: str = "manual",
        schedule_id: str | None = None,
    ) -> tuple[Backup, App, BackupDestination, list[Volume]]:
        app = await self._get_app(app_id)
        dest = await self.get_destination(destination_id, "destination_id")
        mounts = await self.ctx.services.volumes.for_app(app_id)
        if not mounts:
            raise ValidationFailed.on(None, f"app {app.name} has no volumes to back up")
        if volumes is not None:
            by_name = {v.name: v for v in mounts}
            unknown = [n for n in volumes if n not in by_name]
            if unknown or not volumes:
                raise ValidationFailed.on(
                    "volumes",
                    f"no volume named {', '.join(map(repr, unknown))}" if unknown else "empty list",
                    available=sorted(by_name),
                )
            mounts = [by_name[n] for n in dict.fromkeys(volumes)]
        await self._volume_runtime()
        secret = unseal(self.ctx.secrets, dest)
        now = _now()
        row = Backup(
            what="volumes",
            app_id=app.id,
            app_name=app.name,
            destination_id=dest.id,
            schedule_id=schedule_id,
            trigger=trigger,
            codec=codec,
            encrypted=bool(secret.get("passphrase")),
            volumes=[_volume_entry(v) for v in mounts],
            consistency=app.backup_consistency,
            started_at=now,
        )
        row.key = f"apps/{app.name}-{app.id}/{_stamp(now)}-{row.id}.tar.{codec}" + (
            ".enc" if row.encrypted else ""
        )
        self._claim(app.id, row.id)
        try:
            async with self.ctx.db.session() as session:
                session.add(row)
                await session.commit()
                await session.refresh(row)
        except BaseException:
            self._busy.pop(app.id, None)
            raise
        return row, app, dest, mounts

    async def start_app_backup(
        self,
        app_id: str,
        destination_id: str,
        volumes: list[str] | None = None,
        *,
        codec: str = "zst",
    ) -> Backup:
        """Back up the app's volumes (all, or those named) now; returns the ``running`` row at once."""
        row, app, dest, mounts = await self._prepare_app_backup(app_id, destination_id, volumes, codec=codec)
        self._spawn(row.id, self._execute_backup(row, app, dest, mounts), f"backup-{row.id}")
        return row

    @contextlib.asynccontextmanager
    async def _consistent(self, runtime: Any, app: App) -> AsyncIterator[None]:
        """Hold the app's data still for the copy (see the module docstring)."""
        mode = app.backup_consistency
        if mode == "command":
            containers = await self._running_containers(runtime, app.id)
            if containers and app.pre_backup_command:
                result = await runtime.exec(containers[0].id, ["sh", "-c", app.pre_backup_command])
                if result.exit_code != 0:
                    tail = (result.output or "").strip()[-500:]
                    raise StepFailed(
                        f"pre_backup_command exited with code {result.exit_code}"
                        + (f": {tail}" if tail else "")
                    )
        if mode != "pause":
            yield
            return
        # Under the switch lock: the crash watcher and a deployment's switch leave the frozen app alone.
        async with self._switch_lock(app.id):
            paused: list[str] = []
            try:
                for container in await self._running_containers(runtime, app.id):
                    await runtime.pause(container.id)
                    paused.append(container.id)
                yield
            finally:
                for container_id in paused:
                    try:
                        await asyncio.shield(runtime.unpause(container_id))
                    except Exception:
                        log.error(
                            "could not unpause container %s after a backup", container_id, exc_info=True
                        )

    async def _finish(self, model: Any, ident: str, **fields: Any) -> Any:
        async with self.ctx.db.session() as session:
            row = await session.get(model, ident)
            if row is None:
                return None
            for key, value in fields.items():
                setattr(row, key, value)
            row.finished_at = utcnow()
            session.add(row)
            await session.commit()
            await session.refresh(row)
            return row

    async def _execute_backup(
        self, row: Backup, app: App, dest: BackupDestination, mounts: list[Volume]
    ) -> Backup:
        started = time.monotonic()
        error: str | None = None
        result: dict[str, Any] = {}
        try:
            runtime = await self._volume_runtime()
            sources = [{"name": v.name, "path": await self._volume_dir(runtime, app.id, v)} for v in mounts]
            request = {
                "op": "backup",
                "destination": worker_destination(self.ctx.secrets, dest),
                "key": row.key,
                "codec": row.codec,
                "sources": sources,
            }
            async with self._consistent(runtime, app):
                result = await self._worker(request)
        except asyncio.CancelledError:
            error = "interrupted by a server shutdown"
            raise
        except (StepFailed, RivetrError) as exc:
            error = str(exc.message if isinstance(exc, RivetrError) else exc)
        except Exception as exc:
            log.exception("backup %s of app %s failed", row.id, app.name)
            error = f"{type(exc).__name__}: {exc}"
        finally:
            self._busy.pop(app.id, None)
            duration = int(result.get("duration_ms") or (time.monotonic() - started) * 1000)
            if error is None:
                fields = {
                    "status": "succeeded",
                    "key": result.get("key") or row.key,
                    "size_bytes": result.get("size"),
                    "sha256": result.get("sha256"),
                    "duration_ms": duration,
                }
            else:
                fields = {"status": "failed", "error": error[:2000], "duration_ms": duration}
            done = await asyncio.shield(self._finish(Backup, row.id, **fields))
            self._announce(done or row, app, dest)
        return done or row

    def _announce(self, row: Backup, app: App | None, dest: BackupDestination) -> None:
        what = f"backup of {app.name}'s volumes" if app else "backup of Rivetr's state"
        data = {
            "what": row.what,
            "app_id": row.app_id,
            "app_name": row.app_name,
            "destination": dest.name,
            "backup_id": row.id,
            "size": row.size_bytes,
            "error": row.error,
        }
        if row.status == "succeeded":
            self._emit(
                "backup_succeeded",
                f"{what} to {describe(dest)}: {row.size_bytes} bytes",
                level="success",
                app=app,
                data=data,
            )
        else:
            self._emit(
                "backup_failed",
                f"{what} to {describe(dest)} failed: {row.error}",
                level="failure",
                app=app,
                data=data,
            )

    async def start_state_backup(
        self, destination_id: str, *, trigger: str = "manual", schedule_id: str | None = None
    ) -> tuple[Backup, BackupDestination]:
        """A backup of Rivetr's own state (database, certificates, config; the secret key only when the
        destination has a passphrase, encrypted with it) to a destination; returns the ``running`` row."""
        dest = await self.get_destination(destination_id, "destination_id")
        self._claim("", "state")  # one state backup at a time
        row = Backup(
            what="state", destination_id=dest.id, schedule_id=schedule_id, trigger=trigger, codec="gz"
        )
        try:
            async with self.ctx.db.session() as session:
                session.add(row)
                await session.commit()
                await session.refresh(row)
        except BaseException:
            self._busy.pop("", None)
            raise
        return row, dest

    async def _execute_state_backup(self, row: Backup, dest: BackupDestination) -> Backup:
        from rivetr_core.backup import config_file
        from rivetr_core.backup.state import create_backup

        started = time.monotonic()
        error: str | None = None
        result: dict[str, Any] = {}
        data_dir = self.ctx.config.server.data_dir
        staging = tempfile.mkdtemp(prefix=".rivetr-state-upload-", dir=data_dir)
        passphrase = unseal(self.ctx.secrets, dest).get("passphrase")
        try:
            archive = await asyncio.to_thread(
                create_backup, data_dir, Path(staging), config_file=config_file(), passphrase=passphrase
            )
            key = f"state/{archive.path.name}"
            result = await self._worker(
                {
                    "op": "put_file",
                    "destination": worker_destination(self.ctx.secrets, dest),
                    "key": key,
                    "file": str(archive.path),
                }
            )
            result.setdefault("key", key)
        except asyncio.CancelledError:
            error = "interrupted by a server shutdown"
            raise
        except RivetrError as exc:
            error = exc.message
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        finally:
            self._busy.pop("", None)
            shutil.rmtree(staging, ignore_errors=True)
            duration = int((time.monotonic() - started) * 1000)
            if error is None:
                fields = {
                    "status": "succeeded",
                    "key": result.get("key"),
                    "size_bytes": result.get("size"),
                    "sha256": result.get("sha256"),
                    "duration_ms": duration,
                    # Only the secret key and admin token are encrypted in a state archive (state.py).
                    "encrypted": False,
                }
            else:
                fields = {"status": "failed", "error": error[:2000], "duration_ms": duration}
            done = await asyncio.shield(self._finish(Backup, row.id, **fields))
            self._announce(done or row, None, dest)
        return done or row

    async def state_backup_now(self, destination_id: str) -> Backup:
        row, dest = await self.start_state_backup(destination_id)
        self._spawn(row.id, self._execute_state_backup(row, dest), f"backup-{row.id}")
        return row

    async def delete_backup(self, backup_id: str) -> None:
        """Delete the archive at its destination, then the row. 409 while it runs or is being restored."""
        row = await self.get_backup(backup_id)
        if row.status == "running":
            raise Conflict("this backup is still running", code="backup_in_progress")
        async with self.ctx.db.session() as session:
            restoring = (
                await session.exec(
                    select(BackupRestore).where(
                        BackupRestore.backup_id == backup_id, BackupRestore.status == "running"
                    )
                )
            ).first()
            dest = await session.get(BackupDestination, row.destination_id) if row.destination_id else None
        if restoring is not None:
            raise Conflict("a restore of this backup is in progress", code="backup_in_progress")
        if dest is not None and row.key and row.status == "succeeded":
            await self._worker(
                {"op": "delete", "destination": worker_destination(self.ctx.secrets, dest), "key": row.key}
            )
        async with self.ctx.db.session() as session:
            found = await session.get(Backup, backup_id)
            if found is not None:
                await session.delete(found)
                await session.commit()

    # ------------------------------------------------------------------------------------------ restores
    async def get_restore(self, restore_id: str) -> BackupRestore:
        async with self.ctx.db.session() as session:
            row = await session.get(BackupRestore, restore_id)
        if row is None:
            raise NotFound.of("restore", restore_id)
        return row

    async def list_restores(self, backup_id: str, page: PageQuery) -> tuple[list[BackupRestore], str | None]:
        from rivetr_core.pagination import keyset_page

        await self.get_backup(backup_id)
        stmt = select(BackupRestore).where(BackupRestore.backup_id == backup_id)
        async with self.ctx.db.session() as session:
            return await keyset_page(
                session, stmt, BackupRestore, page, newest_first=True, time_attr="started_at"
            )

    async def start_restore(
        self, backup_id: str, app_id: str | None = None, volumes: list[str] | None = None
    ) -> BackupRestore:
        """Restore a volume backup into its app (or ``app_id``), all volumes or those named. The target's
        volumes are matched by name; missing ones are created with the source's mount path (applied to its
        containers at the next deployment). Returns the ``running`` restore at once."""
        backup = await self.get_backup(backup_id)
        if backup.what != "volumes":
            raise ValidationFailed.on(
                None,
                "a state backup is restored with `rivetr backup restore FILE` into a stopped server's data dir",
            )
        if backup.status != "succeeded":
            raise Conflict(f"backup {backup_id} is {backup.status}: only a succeeded one can be restored")
        if backup.destination_id is None:
            raise Conflict("the destination of this backup was deleted", code="destination_gone")
        dest = await self.get_destination(backup.destination_id)
        target_id = app_id or backup.app_id
        if target_id is None:
            raise ValidationFailed.on(
                "app_id", "the app this backup came from was deleted: name a target app"
            )
        app = await self._get_app(target_id, "app_id" if app_id else None)
        source = {v["name"]: v for v in backup.volumes or []}
        names = list(source)
        if volumes is not None:
            unknown = [n for n in volumes if n not in source]
            if unknown or not volumes:
                raise ValidationFailed.on(
                    "volumes",
                    f"not in this backup: {', '.join(map(repr, unknown))}" if unknown else "empty list",
                    available=names,
                )
            names = list(dict.fromkeys(volumes))
        await self._volume_runtime()
        row = BackupRestore(backup_id=backup.id, app_id=app.id)
        self._claim(app.id, row.id)
        try:
            have = {v.name: v for v in await self.ctx.services.volumes.for_app(app.id)}
            targets: list[Volume] = []
            for name in names:
                if name not in have:
                    have[name] = await self.ctx.services.volumes.create(
                        app.id, {"name": name, "mount_path": source[name]["mount_path"], "kind": "volume"}
                    )
                targets.append(have[name])
            row.volumes = [_volume_entry(v) for v in targets]
            async with self.ctx.db.session() as session:
                session.add(row)
                await session.commit()
                await session.refresh(row)
        except BaseException:
            self._busy.pop(app.id, None)
            raise
        self._spawn(row.id, self._execute_restore(row, backup, app, dest, targets), f"restore-{row.id}")
        return row

    async def _execute_restore(
        self, row: BackupRestore, backup: Backup, app: App, dest: BackupDestination, targets: list[Volume]
    ) -> None:
        error: str | None = None
        try:
            runtime = await self._volume_runtime()
            paths = [{"name": v.name, "path": await self._volume_dir(runtime, app.id, v)} for v in targets]
            staged = await self._worker(
                {
                    "op": "stage",
                    "destination": worker_destination(self.ctx.secrets, dest),
                    "key": backup.key,
                    "sha256": backup.sha256,
                    "targets": paths,
                }
            )
            restarted = await self._swap_stopped(runtime, app, str(staged["token"]), paths)
            if restarted:
                await self._check_health(runtime, app, restarted)
        except asyncio.CancelledError:
            error = "interrupted by a server shutdown"
            raise
        except (StepFailed, RivetrError) as exc:
            error = str(exc.message if isinstance(exc, RivetrError) else exc)
        except Exception as exc:
            log.exception("restore %s into app %s failed", row.id, app.name)
            error = f"{type(exc).__name__}: {exc}"
        finally:
            self._busy.pop(app.id, None)
            fields: dict[str, Any] = (
                {"status": "succeeded"} if error is None else {"status": "failed", "error": error[:2000]}
            )
            await asyncio.shield(self._finish(BackupRestore, row.id, **fields))
            data = {
                "what": "volumes",
                "app_id": app.id,
                "app_name": app.name,
                "destination": dest.name,
                "backup_id": backup.id,
                "restore_id": row.id,
                "size": backup.size_bytes,
                "error": error,
            }
            if error is None:
                self._emit(
                    "restore_succeeded",
                    f"{app.name}: volumes restored from backup {backup.id}",
                    level="success",
                    app=app,
                    data=data,
                )
            else:
                self._emit(
                    "restore_failed",
                    f"{app.name}: restore of backup {backup.id} failed: {error}",
                    level="failure",
                    app=app,
                    data=data,
                )

    async def _swap_stopped(
        self, runtime: Any, app: App, token: str, paths: list[dict[str, str]]
    ) -> list[str]:
        """Stop the app's running containers, swap the staged files in, start them again (always, swapped or
        not). Returns the ids of the containers started again. Before the swap, any failure discards the
        staging: the live data is untouched."""
        stopped: list[str] = []
        swapped = False
        async with self._switch_lock(app.id):
            try:
                for container in await self._running_containers(runtime, app.id):
                    await runtime.stop(container.id, timeout=10)
                    stopped.append(container.id)
                # Shielded: a shutdown arriving now must not leave half the entries swapped.
                await asyncio.shield(self._worker({"op": "swap", "token": token, "targets": paths}))
                swapped = True
            finally:
                if not swapped:
                    try:
                        await asyncio.shield(
                            self._worker({"op": "discard", "token": token, "targets": paths})
                        )
                    except Exception:
                        log.warning("discarding the staged restore %s failed", token, exc_info=True)
                for container_id in stopped:
                    try:
                        await asyncio.shield(runtime.start(container_id))
                    except Exception:
                        log.error(
                            "could not start container %s again after a restore", container_id, exc_info=True
                        )
                if stopped:
                    await self._follow_upstream(runtime, app)
        return stopped

    async def _current(self, app_id: str) -> tuple[App | None, Deployment | None]:
        async with self.ctx.db.session() as session:
            app = await session.get(App, app_id)
            dep = (
                await session.get(Deployment, app.current_deployment_id)
                if app and app.current_deployment_id
                else None
            )
        return app, dep

    async def _follow_upstream(self, runtime: Any, app: App) -> None:
        """A restarted container may get another address (a new IP, another ephemeral port): point the
        deployment and the app's routes at it."""
        fresh, dep = await self._current(app.id)
        if fresh is None or dep is None or not dep.container_id:
            return
        try:
            info = await runtime.inspect(dep.container_id)
        except RivetrError:
            return
        upstream = info.upstream
        if not upstream or upstream == dep.upstream:
            return
        deployments = self.ctx.services.get("deployments")
        if deployments is None:
            return
        await deployments.update_deployment(dep.id, upstream=upstream)
        routes = self.ctx.services.routes
        for domain in await deployments.app_domains(app.id):
            await routes.set(
                domain, [upstream], app_id=app.id, https_redirect=fresh.https_redirect, hsts=fresh.hsts
            )

    async def _check_health(self, runtime: Any, app: App, restarted: list[str]) -> None:
        """The app's own health check against its serving container, as a deployment runs it."""
        from rivetr_core.contract.health import HealthTarget
        from rivetr_core.engine.selection import health_kind, health_options

        fresh, dep = await self._current(app.id)
        deployments = self.ctx.services.get("deployments")
        if fresh is None or dep is None or deployments is None or dep.container_id not in restarted:
            return
        if not dep.upstream:
            return
        check = deployments.health_check(health_kind(fresh))
        options = health_options(fresh)
        host, _, port = dep.upstream.rpartition(":")
        domains = await deployments.app_domains(app.id)
        target = HealthTarget(
            host=host,
            port=int(port),
            path=options.get("path") or fresh.healthcheck_path,
            expected_status=options.get("status"),
            timeout=fresh.healthcheck_timeout,
            host_header=domains[0] if domains else None,
            options=options,
            container_id=dep.container_id,
            runtime=runtime,
        )
        detail = ""
        for attempt in range(1, fresh.healthcheck_retries + 1):
            try:
                result = await asyncio.wait_for(check.check(target), target.timeout + 1)
                if result.ok:
                    return
                detail = result.detail
            except Exception as exc:
                detail = f"{type(exc).__name__}: {exc}"
            if attempt < fresh.healthcheck_retries:
                await asyncio.sleep(min(fresh.healthcheck_interval, 0.05 * 2 ** (attempt - 1)))
        raise StepFailed(f"data restored, but the app failed its health check afterwards: {detail}")

    # ----------------------------------------------------------------------------------------- schedules
    async def get_schedule(self, schedule_id: str) -> BackupSchedule:
        async with self.ctx.db.session() as session:
            row = await session.get(BackupSchedule, schedule_id)
        if row is None:
            raise NotFound.of("backup schedule", schedule_id)
        return row

    async def schedule_json(self, row: BackupSchedule) -> dict[str, Any]:
        async with self.ctx.db.session() as session:
            job = (
                await session.exec(select(ScheduledJob).where(ScheduledJob.name == schedule_job_name(row.id)))
            ).first()
        return schedule_json(row, job)

    async def list_schedules(
        self, page: PageQuery, *, app_id: str | None = None
    ) -> tuple[list[BackupSchedule], str | None]:
        from rivetr_core.pagination import keyset_page

        stmt = select(BackupSchedule)
        if app_id is not None:
            stmt = stmt.where(BackupSchedule.app_id == app_id)
        async with self.ctx.db.session() as session:
            return await keyset_page(session, stmt, BackupSchedule, page)

    async def _check_schedule(self, values: dict[str, Any]) -> None:
        from rivetr_core.scheduler.cron import CronError, next_run

        if values["what"] == "volumes":
            if not values.get("app_id"):
                raise ValidationFailed.on("app_id", "a schedule of volume backups names its app")
            await self._get_app(values["app_id"], "app_id")
        elif values.get("app_id"):
            raise ValidationFailed.on("app_id", "a state backup schedule has no app")
        await self.get_destination(values["destination_id"], "destination_id")
        for field in ("keep_last", "keep_daily", "keep_weekly"):
            if not isinstance(values[field], int) or values[field] < 0:
                raise ValidationFailed.on(field, "a count >= 0 (0: rule not used)")
        if not (values["keep_last"] or values["keep_daily"] or values["keep_weekly"]):
            raise ValidationFailed.on(
                "keep_last", "set at least one of keep_last, keep_daily, keep_weekly above 0"
            )
        try:
            await next_run(values["cron"], values["timezone"], _now())
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

    def _scheduler(self) -> Any:
        scheduler = self.ctx.services.get("scheduler")
        if scheduler is None:  # not started (a test, a CLI): the job is written, the loop picks it up later
            from rivetr_core.scheduler.service import Scheduler

            scheduler = Scheduler(self.ctx, owner="rivetr-backups")
        return scheduler

    async def _delete_job(self, schedule_id: str) -> None:
        await self._scheduler().delete_job(schedule_job_name(schedule_id))

    async def create_schedule(self, fields: Mapping[str, Any]) -> BackupSchedule:
        values: dict[str, Any] = {
            "what": "volumes",
            "app_id": None,
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

    async def update_schedule(self, schedule_id: str, fields: Mapping[str, Any]) -> BackupSchedule:
        row = await self.get_schedule(schedule_id)
        values = {
            "what": row.what,
            "app_id": row.app_id,
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

    async def delete_schedule(self, schedule_id: str) -> None:
        """The schedule and its job go; its backups (and their archives) stay."""
        await self.get_schedule(schedule_id)
        async with self.ctx.db.session() as session:
            found = await session.get(BackupSchedule, schedule_id)
            if found is not None:
                await session.delete(found)
                await session.commit()
        await self._delete_job(schedule_id)

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

    # ------------------------------------------------------------------------------------------ start-up
    async def recover_interrupted(self) -> int:
        """Mark the runs and restores a stop of the server cut short (``running`` at start-up) failed."""
        now = utcnow()
        async with self.ctx.db.session() as session:
            count = 0
            for model in (Backup, BackupRestore):
                result = await session.exec(  # type: ignore[call-overload]
                    sa.update(model)
                    .where(model.status == "running")  # type: ignore[attr-defined, arg-type]
                    .values(status="failed", error=INTERRUPTED, finished_at=now)
                )
                count += result.rowcount or 0
            await session.commit()
        if count:
            log.warning("backups: %d run(s) or restore(s) were interrupted by a stop of the server", count)
        return count
