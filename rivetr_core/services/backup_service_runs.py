"""Backups and restores of managed services (part of :class:`~rivetr_core.services.backups.BackupService`).

A service's template names its backup method (:mod:`rivetr_core.backup.dumps`). For a logical dump
(``pg_dumpall``, ``mysqldump``, ``redis_rdb``) the dump command runs in the service's container and its stdout
streams, through this process, into the backup worker's stdin (``backup_stream``): compressed, encrypted when
the destination has a passphrase, uploaded; never held whole in memory nor written to this machine's disk. A
dump that fails in the container (non-zero exit) stops the worker before it commits: no archive appears.

A restore first has the worker check the archive against the run's sha256 (an S3 archive is downloaded into the
data dir for that: a database restore cannot be rolled back half-way as a volume swap can, so no byte of an
unchecked archive may reach the database), then streams the decrypted, decompressed dump into the restore
command in the container (``unpack_stream`` → ``exec_input``). ``redis_rdb`` restores put the RDB in place and
restart the service. The ``volume`` method (one-click apps) archives the service's volumes with the container
paused, and restores them by the staged swap of app volumes with the container stopped.

One backup or restore per service at a time (409). Runs are ``Backup`` rows (``what="service"``, with
``service_id``/``service_name``; ``consistency`` holds the method); restores are ``BackupRestore`` rows whose
``volumes`` name the target service (``kind: "service"``). Events: ``backup_succeeded`` / ``backup_failed``
and ``restore_succeeded`` / ``restore_failed`` with ``service_id`` and ``service_name`` in their data.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlmodel import select

from rivetr_core.contract.errors import Conflict, NotFound, RivetrError, ValidationFailed
from rivetr_core.models.backups import Backup, BackupDestination, BackupRestore

from .backup_base import (
    SHUTDOWN,
    BackupBase,
    BackupWorkerError,
    StepFailed,
    _worker_failure,
    failure_text,
    file_stamp,
    log,
    utc_now,
)
from .backup_destinations import describe, unseal, worker_destination

if TYPE_CHECKING:
    from rivetr_core.models.services import ManagedService
    from rivetr_core.pagination import PageQuery

STREAM_METHODS = ("exec_output", "exec_input")
#: Seconds to wait for a service to be ready again after a restore restarted it (beyond its own health timeout).
READY_SLACK = 30.0


@dataclass
class ServiceTarget:
    """A service as a backup or restore needs it: the row, its template, decrypted credentials (memory only) and
    rendered environment."""

    row: ManagedService
    template: Any
    credentials: dict[str, str]
    env: dict[str, str]

    @property
    def method(self) -> str:
        return str(self.template.backup_method)


def _busy_key(service_id: str) -> str:
    return f"service:{service_id}"


class ServiceRunsMixin(BackupBase):
    # ------------------------------------------------------------------------------------------- reading
    async def _service_target(self, service_id: str, field: str | None = None) -> ServiceTarget:
        managed = self.ctx.services.managed
        try:
            row = await managed.get(service_id)
        except NotFound:
            if field:
                raise NotFound.on(field, f"no service with id {service_id!r}") from None
            raise
        template = managed.template(row.type)
        creds = managed.credentials(row)
        env, _command = template.render(row.name, creds, managed.environment(row))
        return ServiceTarget(row, template, creds, env)

    async def list_service_backups(
        self, service_id: str, page: PageQuery, *, status: str | None = None
    ) -> tuple[list[Backup], str | None]:
        """The service's backups, newest first (404 for an unknown service)."""
        from rivetr_core.pagination import keyset_page

        await self.ctx.services.managed.get(service_id)
        stmt = select(Backup).where(Backup.service_id == service_id)
        if status is not None:
            stmt = stmt.where(Backup.status == status)
        async with self.ctx.db.session() as session:
            return await keyset_page(session, stmt, Backup, page, newest_first=True, time_attr="started_at")

    # ------------------------------------------------------------------------------------------- checks
    def _claim_service(self, service_id: str, name: str, ident: str) -> None:
        key = _busy_key(service_id)
        if key in self._busy:
            raise Conflict(
                f"a backup or restore of service {name} is in progress ({self._busy[key]}); wait for it to finish",
                code="backup_in_progress",
                details={"running": self._busy[key]},
            )
        self._busy[key] = ident

    async def _service_runtime(self, method: str) -> Any:
        """The runtime, when it can do what ``method`` needs; 409 ``runtime_unsupported`` naming what lacks."""
        if method == "volume":
            return await self._volume_runtime()
        runtime = await self.ctx.runtime()
        missing = [m for m in STREAM_METHODS if not callable(getattr(runtime, m, None))]
        if missing:
            raise Conflict(
                f"runtime {runtime.name} cannot stream a dump in or out of a container "
                f"(it lacks {', '.join(missing)})",
                code="runtime_unsupported",
                details={"runtime": runtime.name, "missing": missing},
            )
        return runtime

    async def _running_container(self, runtime: Any, target: ServiceTarget) -> str:
        """The id of the service's running container; 409 ``service_not_running`` otherwise (a dump runs in it)."""
        row = target.row
        running = False
        if row.container_id:
            with contextlib.suppress(RivetrError):
                running = bool((await runtime.inspect(row.container_id)).running)
        if not running:
            raise Conflict(
                f"service {row.name} is not running ({row.status}): start it first, the dump runs in its container",
                code="service_not_running",
                details={"status": row.status},
            )
        return str(row.container_id)

    # ------------------------------------------------------------------------------------------- backups
    async def _prepare_service_backup(
        self,
        service_id: str,
        destination_id: str,
        *,
        codec: str = "zst",
        trigger: str = "manual",
        schedule_id: str | None = None,
    ) -> tuple[Backup, ServiceTarget, BackupDestination]:
        from rivetr_core.backup.dumps import EXTENSIONS

        if codec not in ("zst", "gz"):
            raise ValidationFailed.on("codec", "zst or gz")
        target = await self._service_target(service_id)
        dest = await self.get_destination(destination_id, "destination_id")
        method = target.method
        runtime = await self._service_runtime(method)
        if method != "volume":
            await self._running_container(runtime, target)
        secret = unseal(self.ctx.secrets, dest)
        row_ = target.row
        now = utc_now()
        row = Backup(
            what="service",
            service_id=row_.id,
            service_name=row_.name,
            destination_id=dest.id,
            schedule_id=schedule_id,
            trigger=trigger,
            codec=codec,
            encrypted=bool(secret.get("passphrase")),
            volumes=self._service_entries(target),
            consistency=method,
            started_at=now,
        )
        row.key = (
            f"services/{row_.name}-{row_.id}/{file_stamp(now)}-{row.id}.{EXTENSIONS[method]}.{codec}"
            + (".enc" if row.encrypted else "")
        )
        self._claim_service(row_.id, row_.name, row.id)
        await self._insert_claimed(row, _busy_key(row_.id))
        return row, target, dest

    def _service_entries(self, target: ServiceTarget) -> list[dict[str, Any]]:
        """What the backup holds, with the service's type and version on each entry (a restore checks the type
        even after the source service was deleted)."""
        meta = {"type": target.row.type, "version": target.row.version}
        if target.method == "volume":
            return [
                {"name": v.name, "mount_path": v.path, "kind": "volume", **meta}
                for v in target.template.volumes
            ]
        return [{"name": target.row.name, "mount_path": "", "kind": "dump", **meta}]

    async def start_service_backup(
        self, service_id: str, destination_id: str, *, codec: str = "zst"
    ) -> Backup:
        """Back up the service's data now; returns the ``running`` row at once."""
        row, target, dest = await self._prepare_service_backup(service_id, destination_id, codec=codec)
        self._spawn(row.id, self._execute_service_backup(row, target, dest), f"backup-{row.id}")
        return row

    def _dump_command(self, target: ServiceTarget) -> tuple[list[str], dict[str, str]]:
        from rivetr_core.backup import dumps

        login = dumps.Login.of(target.credentials, target.env)
        default = dumps.dump_command(target.method, login)
        dump, _restore = target.template.backup_commands(target.credentials, target.env, target.row.name)
        # The template's own command wins (images differ: mariadb-dump vs mysqldump); the method's default
        # environment still goes with it (harmless when the command carries its password itself).
        return (list(dump) if dump else default.cmd), default.env

    async def _stream_worker(self, request: dict[str, Any], feed: AsyncIterable[bytes]) -> dict[str, Any]:
        """``run_worker`` with a feed; a worker failure becomes :class:`BackupWorkerError` as in ``_worker``."""
        from rivetr_core.backup.runner import run_worker

        try:
            return await run_worker(request, feed=feed)
        except Exception as exc:
            failure = _worker_failure(exc)
            if failure is None:
                raise
            code, message, details = failure
            raise BackupWorkerError(message, details={"problem": code, **(details or {})}) from None

    async def _execute_service_backup(
        self, row: Backup, target: ServiceTarget, dest: BackupDestination
    ) -> Backup:
        started = time.monotonic()
        error: str | None = None
        result: dict[str, Any] = {}
        service = target.row
        try:
            runtime = await self._service_runtime(target.method)
            request = {
                "op": "backup_stream",
                "destination": worker_destination(self.ctx.secrets, dest),
                "key": row.key,
                "codec": row.codec,
            }
            if target.method == "volume":
                result = await self._backup_service_volumes(runtime, target, request)
            else:
                container_id = await self._running_container(runtime, target)
                cmd, env = self._dump_command(target)
                try:
                    result = await self._stream_worker(request, runtime.exec_output(container_id, cmd, env))
                except RivetrError as exc:
                    if getattr(exc, "code", "") == "exec_failed":
                        raise StepFailed(
                            f"the dump ({cmd[0]}) failed in the container: {exc.message}"
                        ) from None
                    raise
        except asyncio.CancelledError:
            error = SHUTDOWN
            raise
        except Exception as exc:
            error = failure_text(exc, f"backup {row.id} of service {service.name}")
        finally:
            self._busy.pop(_busy_key(service.id), None)
            fields = self._outcome_fields(row, result, error, started)
            done = await asyncio.shield(self._finish(Backup, row.id, **fields))
            self._announce_service(done or row, service, dest)
        return done or row

    async def _service_volume_dirs(self, runtime: Any, target: ServiceTarget) -> list[dict[str, str]]:
        from rivetr_core.models.services import service_volume_name

        dirs = []
        for volume in target.template.volumes:
            path = await runtime.volume_path(service_volume_name(target.row.id, volume.name))
            if not path:
                raise StepFailed(
                    f"volume {volume.name} of service {target.row.name}: its data directory is not reachable "
                    f"from this host"
                )
            dirs.append({"name": volume.name, "path": str(path)})
        if not dirs:
            raise StepFailed(f"service {target.row.name} has no volumes to back up")
        return dirs

    async def _backup_service_volumes(
        self, runtime: Any, target: ServiceTarget, request: dict[str, Any]
    ) -> dict[str, Any]:
        """The ``volume`` method: the service's volumes archived as app volumes are, its container paused for
        the copy (a crash-consistent snapshot) and always thawed."""
        sources = await self._service_volume_dirs(runtime, target)
        paused: str | None = None
        container_id = target.row.container_id
        try:
            if container_id:
                with contextlib.suppress(RivetrError):
                    if (await runtime.inspect(container_id)).running:
                        await runtime.pause(container_id)
                        paused = container_id
            return await self._worker({**request, "op": "backup", "sources": sources})
        finally:
            if paused:
                try:
                    await asyncio.shield(runtime.unpause(paused))
                except Exception:
                    log.error("could not unpause service container %s after a backup", paused, exc_info=True)

    def _announce_service(self, row: Backup, service: ManagedService, dest: BackupDestination) -> None:
        data = {
            "what": "service",
            "service_id": service.id,
            "service_name": service.name,
            "app_id": None,
            "app_name": None,
            "destination": dest.name,
            "backup_id": row.id,
            "size": row.size_bytes,
            "error": row.error,
        }
        self._emit_backup_outcome(
            row, f"backup of service {service.name}", describe(dest), app=None, data=data
        )

    # ------------------------------------------------------------------------------------------- restores
    async def start_service_restore(self, backup_id: str, service_id: str | None = None) -> BackupRestore:
        """Restore a service backup into its service (or ``service_id``, of the same type); returns the
        ``running`` restore at once. The target's data is replaced by the backup's."""
        backup = await self.get_backup(backup_id)
        if backup.what != "service":
            raise ValidationFailed.on(
                None,
                "not a service backup: restore volume backups with POST /api/backups/{id}/restore",
                what=backup.what,
            )
        dest = await self._restorable(backup)
        target_id = service_id or backup.service_id
        if target_id is None:
            raise ValidationFailed.on(
                "service_id", "the service this backup came from was deleted: name a target"
            )
        target = await self._service_target(target_id, "service_id" if service_id else None)
        entries = backup.volumes or []
        source_type = next((e.get("type") for e in entries if e.get("type")), None)
        if source_type is not None and source_type != target.row.type:
            raise ValidationFailed.on(
                "service_id",
                f"backup {backup_id} is of a {source_type} service; {target.row.name} is {target.row.type}",
                backup_type=source_type,
                service_type=target.row.type,
            )
        if backup.consistency and backup.consistency != target.method:
            raise ValidationFailed.on(
                "service_id",
                f"backup {backup_id} was made by {backup.consistency}; {target.row.name} backs up by {target.method}",
            )
        runtime = await self._service_runtime(target.method)
        if target.method != "volume":
            await self._running_container(runtime, target)
        from rivetr_core.backup.dumps import restore_entry

        row = BackupRestore(
            backup_id=backup.id,
            app_id=None,
            volumes=[restore_entry(target.row.id, target.row.name, target.method)],
        )
        self._claim_service(target.row.id, target.row.name, row.id)
        await self._insert_claimed(row, _busy_key(target.row.id))
        self._spawn(row.id, self._execute_service_restore(row, backup, target, dest), f"restore-{row.id}")
        return row

    def _unpack(self, backup: Backup, dest: BackupDestination) -> AsyncIterator[bytes]:
        from rivetr_core.backup.runner import worker_output

        request = {
            "op": "unpack_stream",
            "destination": worker_destination(self.ctx.secrets, dest),
            "key": backup.key,
            "sha256": backup.sha256,
            "staging_dir": str(self.ctx.config.server.data_dir),
        }
        fake = getattr(self, "output_worker", None)  # unit tests: replaces worker_output
        return fake(request) if fake is not None else worker_output(request)

    async def _checked_dump(
        self, backup: Backup, dest: BackupDestination, before: bytes = b"", after: bytes = b""
    ) -> AsyncIterator[bytes]:
        """The backup's dump, once the worker checked the archive (its first chunk came, or it ended without
        one): ``before`` + the dump + ``after``. A worker failure before the first chunk is raised here, before
        anything runs in the container."""
        stream = self._unpack(backup, dest)
        try:
            first = await stream.__anext__()
        except StopAsyncIteration:
            first = b""
        except Exception as exc:
            failure = _worker_failure(exc)
            if failure is None:
                raise
            raise StepFailed(f"{failure[1]} ({failure[0]})") from None

        async def chunks() -> AsyncIterator[bytes]:
            try:
                if before:
                    yield before
                if first:
                    yield first
                    async for chunk in stream:
                        yield chunk
                if after:
                    yield after
            finally:
                closer = getattr(stream, "aclose", None)
                if closer is not None:
                    await closer()

        return chunks()

    async def _execute_service_restore(
        self, row: BackupRestore, backup: Backup, target: ServiceTarget, dest: BackupDestination
    ) -> None:
        error: str | None = None
        service = target.row
        try:
            runtime = await self._service_runtime(target.method)
            if target.method == "volume":
                await self._restore_service_volumes(runtime, target, backup, dest)
            elif target.method == "redis_rdb":
                await self._restore_redis(runtime, target, backup, dest)
            else:
                await self._restore_sql(runtime, target, backup, dest)
        except asyncio.CancelledError:
            error = SHUTDOWN
            raise
        except Exception as exc:
            error = failure_text(exc, f"restore {row.id} into service {service.name}")
        finally:
            self._busy.pop(_busy_key(service.id), None)
            data = {
                "what": "service",
                "service_id": service.id,
                "service_name": service.name,
                "app_id": None,
                "app_name": None,
                "destination": dest.name,
                "backup_id": backup.id,
                "restore_id": row.id,
                "size": backup.size_bytes,
                "error": error,
            }
            await self._finish_restore(
                row, error, subject=f"service {service.name}", restored="data", app=None, data=data
            )

    async def _restore_sql(
        self, runtime: Any, target: ServiceTarget, backup: Backup, dest: BackupDestination
    ) -> None:
        from rivetr_core.backup import dumps

        container_id = await self._running_container(runtime, target)
        login = dumps.Login.of(target.credentials, target.env)
        _dump, template_restore = target.template.backup_commands(
            target.credentials, target.env, target.row.name
        )
        if target.method == "pg_dumpall":
            default = dumps.pg_restore(login)
            before, after = dumps.pg_preamble(), dumps.pg_epilogue(login)
        else:
            default = dumps.mysql_restore(login)
            before, after = b"", b""
        cmd = list(template_restore) if template_restore else default.cmd
        chunks = await self._checked_dump(backup, dest, before, after)
        result = await runtime.exec_input(container_id, cmd, chunks, default.env)
        output = result.output or ""
        if result.exit_code != 0:
            raise StepFailed(
                f"the restore ({cmd[0]}) exited with code {result.exit_code}: {output.strip()[-800:]}"
            )
        if target.method == "pg_dumpall":
            errors = dumps.pg_errors(output)
            if errors:
                raise StepFailed("the restore reported errors: " + " | ".join(errors[:5]))

    async def _restore_redis(
        self, runtime: Any, target: ServiceTarget, backup: Backup, dest: BackupDestination
    ) -> None:
        """Write the RDB next to the live one, swap it in and shut the server down without saving, then start
        the service again and wait until it is ready (it loads the restored RDB)."""
        from rivetr_core.backup import dumps

        container_id = await self._running_container(runtime, target)
        login = dumps.Login.of(target.credentials, target.env)
        receive = dumps.redis_receive(login)
        chunks = await self._checked_dump(backup, dest)
        try:
            result = await runtime.exec_input(container_id, receive.cmd, chunks, receive.env)
            if result.exit_code != 0:
                raise StepFailed(
                    f"writing the RDB into the container failed ({result.exit_code}): {result.output[-500:]}"
                )
            swap = dumps.redis_swap(login)
            swapped = await runtime.exec(container_id, swap.cmd, swap.env)
            if swapped.exit_code != 0:
                raise StepFailed(f"putting the RDB in place failed: {swapped.output.strip()[-500:]}")
        except BaseException:
            # The live RDB was not touched: only the staged copy (maybe partial) goes.
            discard = dumps.redis_discard(login)
            with contextlib.suppress(Exception):
                await asyncio.shield(runtime.exec(container_id, discard.cmd, discard.env))
            raise
        with contextlib.suppress(Exception):  # the server's exit may end this exec before it answers
            await runtime.exec(container_id, ["redis-cli", "SHUTDOWN", "NOSAVE"], dumps._redis_env(login))
        await self._wait_stopped(runtime, container_id)
        await self._restart_service(target)

    async def _wait_stopped(self, runtime: Any, container_id: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if not (await runtime.inspect(container_id)).running:
                    return
            except RivetrError:
                return
            await asyncio.sleep(0.2)
        await runtime.stop(container_id, timeout=10)

    async def _restart_service(self, target: ServiceTarget) -> None:
        """Start the service again through the service layer (its readiness check decides) and wait for it."""
        managed = self.ctx.services.managed
        await managed.restart(target.row.id)
        health = getattr(target.template, "health", None)
        deadline = time.monotonic() + (getattr(health, "timeout", 60.0) or 60.0) + READY_SLACK
        while time.monotonic() < deadline:
            await asyncio.sleep(0.3)
            row = await managed.get(target.row.id)
            if row.status == "running":
                return
            if row.status == "failed":
                raise StepFailed(f"data restored, but the service did not become ready: {row.error}")
        raise StepFailed("data restored, but the service did not become ready in time")

    async def _restore_service_volumes(
        self, runtime: Any, target: ServiceTarget, backup: Backup, dest: BackupDestination
    ) -> None:
        """The ``volume`` method: stage beside the live data, stop the container, swap, start it again."""
        paths = await self._service_volume_dirs(runtime, target)
        staged = await self._worker(
            {
                "op": "stage",
                "destination": worker_destination(self.ctx.secrets, dest),
                "key": backup.key,
                "sha256": backup.sha256,
                "targets": paths,
            }
        )
        token = str(staged["token"])
        swapped = False
        try:
            if target.row.container_id:
                with contextlib.suppress(RivetrError):
                    await runtime.stop(target.row.container_id, timeout=30)
            await asyncio.shield(self._worker({"op": "swap", "token": token, "targets": paths}))
            swapped = True
        finally:
            if not swapped:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._worker({"op": "discard", "token": token, "targets": paths}))
            await self._restart_service(target)
