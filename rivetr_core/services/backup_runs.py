"""Backup runs (part of :class:`~rivetr_core.services.backups.BackupService`): an app's volumes or Rivetr's
own state copied to a destination by the backup worker, the app held consistent around the copy (pause, a
pre-backup command, or none), each run a row and an event whatever its outcome."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlmodel import select

from rivetr_core.contract.errors import Conflict, ValidationFailed
from rivetr_core.models.apps import App
from rivetr_core.models.backups import Backup, BackupDestination, BackupRestore
from rivetr_core.models.volumes import Volume

from .backup_base import (
    SHUTDOWN,
    BackupBase,
    StepFailed,
    failure_text,
    file_stamp,
    log,
    utc_now,
    volume_entry,
)
from .backup_destinations import describe, unseal, worker_destination

if TYPE_CHECKING:
    from rivetr_core.pagination import PageQuery


class RunsMixin(BackupBase):
    async def list_backups(
        self,
        page: PageQuery,
        *,
        app_id: str | None = None,
        status: str | None = None,
        stack_id: str | None = None,
    ) -> tuple[list[Backup], str | None]:
        """Newest first."""
        from rivetr_core.pagination import keyset_page

        stmt = select(Backup)
        if app_id is not None:
            stmt = stmt.where(Backup.app_id == app_id)
        if stack_id is not None:
            stmt = stmt.where(Backup.stack_id == stack_id)
        if status is not None:
            stmt = stmt.where(Backup.status == status)
        async with self.ctx.db.session() as session:
            return await keyset_page(session, stmt, Backup, page, newest_first=True, time_attr="started_at")

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
        now = utc_now()
        row = Backup(
            what="volumes",
            app_id=app.id,
            app_name=app.name,
            destination_id=dest.id,
            schedule_id=schedule_id,
            trigger=trigger,
            codec=codec,
            encrypted=bool(secret.get("passphrase")),
            volumes=[volume_entry(v) for v in mounts],
            consistency=app.backup_consistency,
            started_at=now,
        )
        row.key = f"apps/{app.name}-{app.id}/{file_stamp(now)}-{row.id}.tar.{codec}" + (
            ".enc" if row.encrypted else ""
        )
        self._claim(app.id, row.id)
        await self._insert_claimed(row, app.id)
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
            error = SHUTDOWN
            raise
        except Exception as exc:
            error = failure_text(exc, f"backup {row.id} of app {app.name}")
        finally:
            self._busy.pop(app.id, None)
            fields = self._outcome_fields(row, result, error, started)
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
        self._emit_backup_outcome(row, what, describe(dest), app=app, data=data)

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
        await self._insert_claimed(row, "")
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
            url = self.ctx.config.database.url
            archive = await asyncio.to_thread(
                create_backup,
                data_dir,
                Path(staging),
                config_file=config_file(),
                passphrase=passphrase,
                database_url=url.get_secret_value() if url else None,  # PostgreSQL: exported (state_postgres)
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
            error = SHUTDOWN
            raise
        except Exception as exc:
            error = failure_text(exc, f"state backup {row.id}")
        finally:
            self._busy.pop("", None)
            shutil.rmtree(staging, ignore_errors=True)
            fields = self._outcome_fields(row, result, error, started)
            if (
                error is None
            ):  # only the secret key and admin token are encrypted in a state archive (state.py)
                fields["encrypted"] = False
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
