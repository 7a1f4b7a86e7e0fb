"""The shared plumbing of :class:`~rivetr_core.services.backups.BackupService`: the worker call, the
per-app claim (one backup or restore at a time), background tasks, the runtime's volume directories, events and
the getters every part uses. The parts are mixins on it: destinations (:mod:`.backup_destinations`), runs
(:mod:`.backup_runs`), restores (:mod:`.backup_restores`) and schedules (:mod:`.backup_schedules`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rivetr_core.contract.errors import Conflict, NotFound, RivetrError
from rivetr_core.db import utcnow
from rivetr_core.models.apps import App
from rivetr_core.models.backups import Backup, BackupDestination, BackupRestore, schedule_job_name
from rivetr_core.models.volumes import Volume, engine_volume_name

from .volumes import volume_labels

if TYPE_CHECKING:
    from rivetr_core.context import RivetrContext


log = logging.getLogger("rivetr.backups")

VOLUME_METHODS = ("volume_path", "pause", "unpause", "start")
INTERRUPTED = "interrupted by a server restart"
Worker = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class DestinationCheckFailed(RivetrError):
    """The test write to a destination failed; ``details.problem`` is the worker's code (``bucket_not_found``,
    ``access_denied``, ``endpoint_unreachable``, ``not_a_directory``, ``not_writable``, ``disk_full``...)."""

    code = "destination_check_failed"
    status = 422


class BackupWorkerError(RivetrError):
    """The backup worker failed an operation on a destination or a volume (``details.problem`` is its code)."""

    code = "backup_failed"
    status = 502


class StepFailed(Exception):
    """A step of a run failed for a reason worth showing as it is (the row's ``error``)."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def file_stamp(at: datetime) -> str:
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


def volume_entry(v: Volume) -> dict[str, Any]:
    return {"name": v.name, "mount_path": v.mount_path, "kind": v.kind}


SHUTDOWN = "interrupted by a server shutdown"


def failure_text(exc: Exception, what: str) -> str:
    """The ``error`` a run or restore records for ``exc``: an expected failure's own message; anything else
    is a bug or a surprise, logged with its traceback (``what`` names the run) and recorded by type."""
    if isinstance(exc, RivetrError):
        return exc.message
    if isinstance(exc, StepFailed):
        return str(exc)
    log.exception("%s failed", what)
    return f"{type(exc).__name__}: {exc}"


class BackupBase:
    def __init__(self, ctx: RivetrContext) -> None:
        self.ctx = ctx
        #: Replaces the backup worker (``run_worker``) in unit tests of this module's logic.
        self.worker: Worker | None = None
        #: app id → id of the backup or restore running for it.
        self._busy: dict[str, str] = {}
        #: run or restore id → its task (tests await them; shutdown cancels them through ``ctx.spawn``).
        self.tasks: dict[str, asyncio.Task[Any]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def _swap_in(
        self,
        runtime: Any,
        containers: Callable[[], Awaitable[list[Any]]],
        token: str,
        paths: list[dict[str, str]],
        *,
        restarted: Callable[[], Awaitable[None]],
    ) -> list[str]:
        """Stop the containers ``containers()`` lists, swap the staged files in, start them again (always,
        swapped or not), then ``restarted()`` (routes follow new addresses). Returns the ids started again.
        Before the swap, any failure discards the staging: the live data is untouched. The caller holds the
        owner's lock (an app's or a stack's: one restore or switch at a time)."""
        stopped: list[str] = []
        swapped = False
        try:
            for container in await containers():
                await runtime.stop(container.id, timeout=10)
                stopped.append(container.id)
            # Shielded: a shutdown arriving now must not leave half the entries swapped.
            await asyncio.shield(self._worker({"op": "swap", "token": token, "targets": paths}))
            swapped = True
        finally:
            if not swapped:
                try:
                    await asyncio.shield(self._worker({"op": "discard", "token": token, "targets": paths}))
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
                await restarted()
        return stopped

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

    def running_for(self, key: str) -> str | None:
        """The id of the backup or restore in progress for ``key`` (an app's id, or ``service:<id>``)."""
        return self._busy.get(key)

    def _claim(self, app_id: str, ident: str) -> None:
        if app_id in self._busy:
            raise Conflict(
                f"a backup or restore of this app is in progress ({self._busy[app_id]}); wait for it to finish",
                code="backup_in_progress",
                details={"running": self._busy[app_id]},
            )
        self._busy[app_id] = ident

    @staticmethod
    def _outcome_fields(
        row: Any, result: dict[str, Any], error: str | None, started: float
    ) -> dict[str, Any]:
        """What a finished backup run's row records: the archive (key, size, sha256) or the error, and the
        duration (the worker's own, else the wall time since ``started``, a ``time.monotonic()``)."""
        import time

        duration = int(result.get("duration_ms") or (time.monotonic() - started) * 1000)
        if error is not None:
            return {"status": "failed", "error": error[:2000], "duration_ms": duration}
        return {
            "status": "succeeded",
            "key": result.get("key") or row.key,
            "size_bytes": result.get("size"),
            "sha256": result.get("sha256"),
            "duration_ms": duration,
        }

    async def _finish_restore(
        self,
        row: Any,
        error: str | None,
        *,
        subject: str,
        restored: str,
        app: App | None,
        data: dict[str, Any],
    ) -> None:
        """Record a finished restore and announce it (``restore_succeeded`` / ``restore_failed``): ``subject``
        names what was restored into (``web``, ``service db``), ``restored`` what came back."""
        fields: dict[str, Any] = (
            {"status": "succeeded"} if error is None else {"status": "failed", "error": error[:2000]}
        )
        await asyncio.shield(self._finish(BackupRestore, row.id, **fields))
        backup_id = data.get("backup_id")
        if error is None:
            message = f"{subject}: {restored} restored from backup {backup_id}"
            self._emit("restore_succeeded", message, level="success", app=app, data=data)
        else:
            message = f"{subject}: restore of backup {backup_id} failed: {error}"
            self._emit("restore_failed", message, level="failure", app=app, data=data)

    def _emit_backup_outcome(
        self, row: Any, what: str, where: str, *, app: App | None, data: dict[str, Any]
    ) -> None:
        """``backup_succeeded`` or ``backup_failed`` for a finished run (silence is never taken for success)."""
        if row.status == "succeeded":
            self._emit(
                "backup_succeeded",
                f"{what} to {where}: {row.size_bytes} bytes",
                level="success",
                app=app,
                data=data,
            )
        else:
            self._emit(
                "backup_failed", f"{what} to {where} failed: {row.error}", level="failure", app=app, data=data
            )

    async def _restorable(self, backup: Any) -> Any:
        """The destination a succeeded backup can be restored from; 409 when the run failed or the destination
        is gone."""
        if backup.status != "succeeded":
            raise Conflict(f"backup {backup.id} is {backup.status}: only a succeeded one can be restored")
        if backup.destination_id is None:
            raise Conflict("the destination of this backup was deleted", code="destination_gone")
        return await self.get_destination(backup.destination_id)

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

    async def _get(self, model: Any, ident: str, what: str, field: str | None = None) -> Any:
        """The row of ``model`` or a 404: ``NotFound.of(what)``, or naming ``field`` when the id came in a
        request body (``destination_id``, ``app_id``)."""
        async with self.ctx.db.session() as session:
            row = await session.get(model, ident)
        if row is None:
            if field:
                raise NotFound.on(field, f"no {what} with id {ident!r}")
            raise NotFound.of(what, ident)
        return row

    async def get_destination(self, destination_id: str, field: str | None = None) -> BackupDestination:
        row: BackupDestination = await self._get(
            BackupDestination, destination_id, "backup destination", field
        )
        return row

    async def get_backup(self, backup_id: str) -> Backup:
        row: Backup = await self._get(Backup, backup_id, "backup")
        return row

    async def _get_app(self, app_id: str, field: str | None = None) -> App:
        app: App = await self._get(App, app_id, "app", field)
        return app

    async def _insert_claimed(self, row: Any, app_id: str) -> None:
        """Store a new run or restore row; the app's claim (taken by the caller) is released if that fails."""
        try:
            async with self.ctx.db.session() as session:
                session.add(row)
                await session.commit()
                await session.refresh(row)
        except BaseException:
            self._busy.pop(app_id, None)
            raise

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

    def _scheduler(self) -> Any:
        scheduler = self.ctx.services.get("scheduler")
        if scheduler is None:  # not started (a test, a CLI): the job is written, the loop picks it up later
            from rivetr_core.scheduler.service import Scheduler

            scheduler = Scheduler(self.ctx, owner="rivetr-backups")
        return scheduler

    async def _delete_job(self, schedule_id: str) -> None:
        await self._scheduler().delete_job(schedule_job_name(schedule_id))
