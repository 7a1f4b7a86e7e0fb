"""Backups and restores of compose stacks' named volumes (part of
:class:`~rivetr_core.services.backups.BackupService`).

A stack's named volumes are the top-level ``volumes`` of the compose file its live deployment ran (the pasted
file before a first deployment), each with the services that mount it; on the engine each is
``rivetr-stk-<stack id>-<key>`` (:func:`rivetr_core.stacks.naming.volume_name`). They are archived and restored by
the same worker operations as an app's volumes (``backup``, then ``stage`` / ``swap`` / ``discard``), so the
archive format, encryption, destinations, retention and the swap's crash safety are the app's:

* **Backup**: the running containers of the services mounting the chosen volumes are paused for the copy (a
  crash-consistent snapshot, as an app's ``pause`` consistency) and always thawed; a stack has no
  pre-backup command. Runs are ``Backup`` rows with ``what="stack"``, ``stack_id``/``stack_name``.
* **Restore**: staged beside the live data while the stack runs; then the services using the volumes are stopped,
  the files swapped in, the containers started again, their routes follow a changed address, and each must be
  running (and healthy, when it has a healthcheck). Any failure before the swap leaves the live data untouched.

Both hold the stack's deployment lock, so no deployment recreates the containers meanwhile (a deployment
waits), and one backup or restore per stack runs at a time (409 ``backup_in_progress``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlmodel import select

from rivetr_core.contract.errors import Conflict, NotFound, RivetrError, ValidationFailed
from rivetr_core.models.backups import Backup, BackupDestination, BackupRestore

from .backup_base import SHUTDOWN, BackupBase, StepFailed, failure_text, file_stamp, log, utc_now
from .backup_destinations import describe, unseal, worker_destination

if TYPE_CHECKING:
    from rivetr_core.models.stacks import Stack
    from rivetr_core.pagination import PageQuery

#: Seconds a restarted service gets to be running (and healthy, with a healthcheck) after a restore.
READY_TIMEOUT = 120.0


@dataclass
class StackVolume:
    """One named volume of a stack: its compose key, engine volume and where the services mount it."""

    name: str
    engine_name: str
    #: ``[{"service", "target", "read_only"}]`` in file order.
    mounts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def services(self) -> list[str]:
        return list(dict.fromkeys(m["service"] for m in self.mounts))

    def entry(self) -> dict[str, Any]:
        """What a backup or restore row records of it (``VolumeEntry``)."""
        return {
            "name": self.name,
            "mount_path": self.mounts[0]["target"] if self.mounts else "",
            "kind": "volume",
            "services": self.services,
        }


def stack_key(stack_id: str) -> str:
    """The claim of a stack's backup or restore (one at a time)."""
    return f"stack:{stack_id}"


def _volume_source(entry: Any) -> str | None:
    """The volume key a service's ``volumes`` entry mounts, None for a bind, tmpfs or anonymous volume. The
    compose loader's own rules (short ``source:target[:mode]`` syntax, a source starting with ``/``, ``.`` or
    ``~`` is a bind), applied to a file that already passed it at deployment."""
    if isinstance(entry, dict):
        return str(entry.get("source") or "") or None if entry.get("type") == "volume" else None
    parts = str(entry).split(":")
    if len(parts) < 2 or parts[0].startswith(("/", ".", "~")):
        return None
    return parts[0] or None


def _volume_target(entry: Any) -> str:
    if isinstance(entry, dict):
        return str(entry.get("target") or "")
    return str(entry).split(":")[1]


def _read_only(entry: Any) -> bool:
    if isinstance(entry, dict):
        return bool(entry.get("read_only", False))
    parts = str(entry).split(":")
    return len(parts) == 3 and "ro" in parts[2].split(",")


def volumes_of(
    stack_id: str, text: str, env: dict[str, str], services: list[str] | None, profiles: list[str]
) -> list[StackVolume]:
    """The named volumes a compose file declares, each with the mounts of ``services`` (the live deployment's;
    None: every service the stack's ``profiles`` enable). Interpolated with the stack's variables, as the
    deployment read it; a file that no longer parses has none."""
    from rivetr_core.compose.errors import ComposeError
    from rivetr_core.compose.interpolate import interpolate_tree
    from rivetr_core.compose.yamlfile import parse_yaml
    from rivetr_core.stacks.naming import volume_name

    try:
        data, _positions = parse_yaml(text)
    except ComposeError:
        return []
    if not isinstance(data, dict):
        return []
    problems: list[dict[str, Any]] = []
    data = {
        k: v if str(k).startswith("x-") else interpolate_tree(v, env, (k,), problems, [])
        for k, v in data.items()
    }
    declared = data.get("volumes") or {}
    found = {str(key): StackVolume(str(key), volume_name(stack_id, str(key))) for key in declared}
    for name, raw in (data.get("services") or {}).items():
        raw = raw or {}
        wanted = (
            name in services
            if services is not None
            else not raw.get("profiles") or bool(set(raw.get("profiles") or []) & set(profiles))
        )
        if not wanted:
            continue
        for entry in raw.get("volumes") or []:
            source = _volume_source(entry)
            if source in found:
                found[source].mounts.append(
                    {"service": str(name), "target": _volume_target(entry), "read_only": _read_only(entry)}
                )
    return list(found.values())


class StackRunsMixin(BackupBase):
    # ------------------------------------------------------------------------------------------- reading
    async def _stack(self, stack_id: str, field: str | None = None) -> Stack:
        try:
            row: Stack = await self.ctx.services.stacks.get(stack_id)
        except NotFound:
            if field:
                raise NotFound.on(field, f"no stack with id {stack_id!r}") from None
            raise
        return row

    async def stack_volumes(self, stack: Stack) -> list[StackVolume]:
        """The stack's named volumes as its live deployment runs them (see :func:`volumes_of`)."""
        stacks = self.ctx.services.stacks
        text, services = stack.compose if stack.source == "inline" else None, None
        if stack.current_deployment_id:
            with contextlib.suppress(NotFound):
                dep = await stacks.get_deployment(stack.current_deployment_id)
                text, services = dep.compose or text, sorted(dep.services or {})
        if not text:
            return []
        return volumes_of(stack.id, text, stacks.env_of(stack), services, list(stack.profiles or ()))

    async def stack_volume_listing(self, stack_id: str) -> tuple[Stack, list[dict[str, Any]]]:
        """``GET /api/stacks/{id}/volumes``: each named volume with its mounts, whether its data exists on the
        engine yet (it is created by the first deployment that mounts it) and the bytes it uses."""
        stack = await self._stack(stack_id)
        volumes = await self.stack_volumes(stack)
        existing: set[str] = set()
        sizes: dict[str, int | None] = {}
        runtime = self.ctx.runtime_if_ready()
        if runtime is not None and volumes:
            with contextlib.suppress(Exception):
                existing = set(await runtime.list_volumes({"rivetr.stack": stack.id}))
                sizes = await runtime.volume_sizes(
                    [v.engine_name for v in volumes if v.engine_name in existing]
                )
        return stack, [
            {
                "name": v.name,
                "engine_name": v.engine_name,
                "services": v.services,
                "mounts": v.mounts,
                "exists": v.engine_name in existing if runtime is not None else None,
                "size_bytes": sizes.get(v.engine_name),
            }
            for v in volumes
        ]

    async def stack_volume_detail(self, stack_id: str, name: str) -> dict[str, Any]:
        """One named volume of the stack; 404 naming ``<stack>/<volume>`` when its file declares none so."""
        stack, items = await self.stack_volume_listing(stack_id)
        for item in items:
            if item["name"] == name:
                return item
        raise NotFound.of("volume", f"{stack.name}/{name}")

    async def list_stack_backups(
        self, stack_id: str, page: PageQuery, *, status: str | None = None
    ) -> tuple[list[Backup], str | None]:
        """The stack's backups, newest first (404 for an unknown stack)."""
        from rivetr_core.pagination import keyset_page

        stack = await self._stack(stack_id)
        stmt = select(Backup).where(Backup.stack_id == stack.id)
        if status is not None:
            stmt = stmt.where(Backup.status == status)
        async with self.ctx.db.session() as session:
            return await keyset_page(session, stmt, Backup, page, newest_first=True, time_attr="started_at")

    # ------------------------------------------------------------------------------------------- helpers
    def _claim_stack(self, stack: Stack, ident: str) -> None:
        key = stack_key(stack.id)
        if key in self._busy:
            raise Conflict(
                f"a backup or restore of stack {stack.name} is in progress ({self._busy[key]}); wait for it to "
                "finish",
                code="backup_in_progress",
                details={"running": self._busy[key]},
            )
        self._busy[key] = ident

    def _stack_lock(self, stack_id: str) -> asyncio.Lock:
        """The lock each deployment of the stack holds (StackService runs one at a time under it): while a
        backup pauses or a restore stops the stack's containers, no deployment replaces them."""
        stacks = self.ctx.services.stacks
        locks = getattr(stacks, "_locks", None)
        if isinstance(locks, dict):
            lock: asyncio.Lock = locks.setdefault(stack_id, asyncio.Lock())
            return lock
        return self._locks.setdefault(stack_key(stack_id), asyncio.Lock())

    def _stack_labels(self, stack_id: str, **extra: str) -> dict[str, str]:
        labels = {"rivetr.stack": stack_id, **extra}
        if instance := self._instance_id():
            labels["rivetr.instance"] = instance
        return labels

    async def _stack_containers(self, runtime: Any, stack_id: str, services: list[str]) -> list[Any]:
        """The running containers of ``services`` of the stack (every replica, whatever deployment made it)."""
        found: list[Any] = []
        for service in services:
            labels = self._stack_labels(stack_id, **{"rivetr.stack.service": service})
            found.extend(c for c in await runtime.list(labels=labels, all=False) if c.running)
        return found

    async def _stack_volume_dir(
        self, runtime: Any, stack_id: str, volume: StackVolume, *, create: bool
    ) -> str:
        path = await runtime.volume_path(volume.engine_name, self._stack_labels(stack_id), create=create)
        if not path:
            raise StepFailed(
                f"volume {volume.name}: its data directory is not reachable from this host (a remote or "
                f"rootless {runtime.name} engine, or the volume is gone)"
            )
        return str(path)

    async def _chosen(
        self, stack: Stack, volumes: list[str] | None, *, field: str = "volumes"
    ) -> list[StackVolume]:
        declared = await self.stack_volumes(stack)
        if not declared:
            raise ValidationFailed.on(None, f"stack {stack.name} has no named volumes to back up")
        if volumes is None:
            return declared
        by_name = {v.name: v for v in declared}
        unknown = [n for n in volumes if n not in by_name]
        if unknown or not volumes:
            raise ValidationFailed.on(
                field,
                f"no volume named {', '.join(map(repr, unknown))} in stack {stack.name}"
                if unknown
                else "empty list",
                available=sorted(by_name),
            )
        return [by_name[n] for n in dict.fromkeys(volumes)]

    # ------------------------------------------------------------------------------------------- backups
    async def _prepare_stack_backup(
        self,
        stack_id: str,
        destination_id: str,
        volumes: list[str] | None,
        *,
        codec: str = "zst",
        trigger: str = "manual",
        schedule_id: str | None = None,
    ) -> tuple[Backup, Stack, BackupDestination, list[StackVolume]]:
        stack = await self._stack(stack_id)
        dest = await self.get_destination(destination_id, "destination_id")
        chosen = await self._chosen(stack, volumes)
        runtime = await self._volume_runtime()
        existing = set(await runtime.list_volumes({"rivetr.stack": stack.id}))
        missing = [v.name for v in chosen if v.engine_name not in existing]
        if missing:
            raise Conflict(
                f"stack {stack.name} has no data in {', '.join(missing)} yet: deploy it first",
                code="volume_missing",
                details={"volumes": missing},
            )
        secret = unseal(self.ctx.secrets, dest)
        now = utc_now()
        row = Backup(
            what="stack",
            stack_id=stack.id,
            stack_name=stack.name,
            destination_id=dest.id,
            schedule_id=schedule_id,
            trigger=trigger,
            codec=codec,
            encrypted=bool(secret.get("passphrase")),
            volumes=[v.entry() for v in chosen],
            consistency="pause",
            started_at=now,
        )
        row.key = f"stacks/{stack.name}-{stack.id}/{file_stamp(now)}-{row.id}.tar.{codec}" + (
            ".enc" if row.encrypted else ""
        )
        self._claim_stack(stack, row.id)
        await self._insert_claimed(row, stack_key(stack.id))
        return row, stack, dest, chosen

    async def start_stack_backup(
        self, stack_id: str, destination_id: str, volumes: list[str] | None = None, *, codec: str = "zst"
    ) -> Backup:
        """Back up the stack's named volumes (all, or those named) now; returns the ``running`` row at once."""
        row, stack, dest, chosen = await self._prepare_stack_backup(
            stack_id, destination_id, volumes, codec=codec
        )
        self._spawn(row.id, self._execute_stack_backup(row, stack, dest, chosen), f"backup-{row.id}")
        return row

    async def _execute_stack_backup(
        self, row: Backup, stack: Stack, dest: BackupDestination, chosen: list[StackVolume]
    ) -> Backup:
        started = time.monotonic()
        error: str | None = None
        result: dict[str, Any] = {}
        try:
            runtime = await self._volume_runtime()
            sources = [
                {"name": v.name, "path": await self._stack_volume_dir(runtime, stack.id, v, create=False)}
                for v in chosen
            ]
            request = {
                "op": "backup",
                "destination": worker_destination(self.ctx.secrets, dest),
                "key": row.key,
                "codec": row.codec,
                "sources": sources,
            }
            services = list(dict.fromkeys(s for v in chosen for s in v.services))
            async with self._stack_lock(stack.id):
                paused: list[str] = []
                try:
                    for container in await self._stack_containers(runtime, stack.id, services):
                        await runtime.pause(container.id)
                        paused.append(container.id)
                    result = await self._worker(request)
                finally:
                    for container_id in paused:
                        try:
                            await asyncio.shield(runtime.unpause(container_id))
                        except Exception:
                            log.error(
                                "could not unpause container %s after a backup", container_id, exc_info=True
                            )
        except asyncio.CancelledError:
            error = SHUTDOWN
            raise
        except Exception as exc:
            error = failure_text(exc, f"backup {row.id} of stack {stack.name}")
        finally:
            self._busy.pop(stack_key(stack.id), None)
            fields = self._outcome_fields(row, result, error, started)
            done = await asyncio.shield(self._finish(Backup, row.id, **fields))
            self._announce_stack(done or row, stack, dest)
        return done or row

    def _announce_stack(self, row: Backup, stack: Stack, dest: BackupDestination) -> None:
        data = {
            "what": "stack",
            "stack_id": stack.id,
            "stack_name": stack.name,
            "app_id": None,
            "app_name": None,
            "destination": dest.name,
            "backup_id": row.id,
            "size": row.size_bytes,
            "error": row.error,
        }
        self._emit_backup_outcome(
            row, f"backup of stack {stack.name}'s volumes", describe(dest), app=None, data=data
        )

    # ------------------------------------------------------------------------------------------- restores
    async def start_stack_restore(
        self, backup_id: str, stack_id: str | None = None, volumes: list[str] | None = None
    ) -> BackupRestore:
        """Restore a stack backup into its stack (or ``stack_id``), all its volumes or those named. The target's
        volumes are matched by name and must be declared by its compose file (422 naming ``volumes``
        otherwise). Returns the ``running`` restore at once."""
        backup = await self.get_backup(backup_id)
        if backup.what != "stack":
            raise ValidationFailed.on(
                None,
                "not a stack backup: restore app volumes with POST /api/backups/{id}/restore, services with "
                "POST /api/backups/{id}/restore-service",
                what=backup.what,
            )
        dest = await self._restorable(backup)
        target_id = stack_id or backup.stack_id
        if target_id is None:
            raise ValidationFailed.on(
                "stack_id", "the stack this backup came from was deleted: name a target stack"
            )
        stack = await self._stack(target_id, "stack_id" if stack_id else None)
        in_backup = [str(v["name"]) for v in backup.volumes or []]
        names = in_backup
        if volumes is not None:
            unknown = [n for n in volumes if n not in in_backup]
            if unknown or not volumes:
                raise ValidationFailed.on(
                    "volumes",
                    f"not in this backup: {', '.join(map(repr, unknown))}" if unknown else "empty list",
                    available=in_backup,
                )
            names = list(dict.fromkeys(volumes))
        declared = {v.name: v for v in await self.stack_volumes(stack)}
        absent = [n for n in names if n not in declared]
        if absent:
            raise ValidationFailed.on(
                "volumes",
                f"stack {stack.name} declares no volume named {', '.join(map(repr, absent))}",
                available=sorted(declared),
            )
        targets = [declared[n] for n in names]
        await self._volume_runtime()
        row = BackupRestore(backup_id=backup.id, stack_id=stack.id, volumes=[v.entry() for v in targets])
        self._claim_stack(stack, row.id)
        await self._insert_claimed(row, stack_key(stack.id))
        self._spawn(
            row.id, self._execute_stack_restore(row, backup, stack, dest, targets), f"restore-{row.id}"
        )
        return row

    async def _execute_stack_restore(
        self,
        row: BackupRestore,
        backup: Backup,
        stack: Stack,
        dest: BackupDestination,
        targets: list[StackVolume],
    ) -> None:
        error: str | None = None
        try:
            runtime = await self._volume_runtime()
            paths = [
                {"name": v.name, "path": await self._stack_volume_dir(runtime, stack.id, v, create=True)}
                for v in targets
            ]
            staged = await self._worker(
                {
                    "op": "stage",
                    "destination": worker_destination(self.ctx.secrets, dest),
                    "key": backup.key,
                    "sha256": backup.sha256,
                    "targets": paths,
                }
            )
            services = list(dict.fromkeys(s for v in targets for s in v.services))
            await self._swap_stack(runtime, stack, services, str(staged["token"]), paths)
        except asyncio.CancelledError:
            error = SHUTDOWN
            raise
        except Exception as exc:
            error = failure_text(exc, f"restore {row.id} into stack {stack.name}")
        finally:
            self._busy.pop(stack_key(stack.id), None)
            data = {
                "what": "stack",
                "stack_id": stack.id,
                "stack_name": stack.name,
                "app_id": None,
                "app_name": None,
                "destination": dest.name,
                "backup_id": backup.id,
                "restore_id": row.id,
                "size": backup.size_bytes,
                "error": error,
            }
            await self._finish_restore(
                row, error, subject=f"stack {stack.name}", restored="volumes", app=None, data=data
            )

    async def _swap_stack(
        self, runtime: Any, stack: Stack, services: list[str], token: str, paths: list[dict[str, str]]
    ) -> None:
        """The stack's side of :meth:`_swap_in`: the running containers of ``services``, under the stack's
        lock, its routes following their new addresses (also when the swap failed: they were restarted); then
        wait until they run."""
        async with self._stack_lock(stack.id):
            stopped = await self._swap_in(
                runtime,
                lambda: self._stack_containers(runtime, stack.id, services),
                token,
                paths,
                restarted=lambda: self._follow_stack_routes(runtime, stack),
            )
            if stopped:
                await self._wait_running(runtime, stopped)

    async def _follow_stack_routes(self, runtime: Any, stack: Stack) -> None:
        """A restarted container may get another address on its network: record the live deployment's new
        upstreams and point the stack's domains at them (as a deployment's switch does)."""
        from rivetr_core.stacks.deployer import _upstream

        stacks = self.ctx.services.stacks
        fresh = await stacks.get(stack.id)
        if not fresh.current_deployment_id:
            return
        dep = await stacks.get_deployment(fresh.current_deployment_id)
        domains = await stacks.domains(stack.id)
        ports = {d.service: d.port for d in domains}
        services = {name: dict(entry) for name, entry in (dep.services or {}).items()}
        changed: set[str] = set()
        for name, entry in services.items():
            if name not in ports:
                continue
            containers = []
            for c in entry.get("containers") or []:
                c = dict(c)
                with contextlib.suppress(RivetrError):
                    upstream = _upstream(await runtime.inspect(c["id"]), ports[name])
                    if upstream and upstream != c.get("upstream"):
                        c["upstream"] = upstream
                        changed.add(name)
                containers.append(c)
            entry["containers"] = containers
        if not changed:
            return
        await stacks.update_deployment(dep.id, services=services)
        for domain in domains:
            if domain.service in changed:
                upstreams = [
                    c["upstream"] for c in services[domain.service]["containers"] if c.get("upstream")
                ]
                await self.ctx.services.routes.set(domain.domain, upstreams, stack_id=stack.id)

    async def _wait_running(self, runtime: Any, container_ids: list[str]) -> None:
        """Each container started again runs (and is healthy, when it has a healthcheck) within
        :data:`READY_TIMEOUT`; otherwise the restore fails saying so (the data is restored either way)."""
        deadline = time.monotonic() + READY_TIMEOUT
        delay = 0.05
        pending = list(container_ids)
        while pending:
            info = await runtime.inspect(pending[0])
            if not info.running:
                raise StepFailed(
                    f"data restored, but container {info.name} did not start again "
                    f"({info.status}, exit code {info.exit_code})"
                )
            if info.health in (None, "healthy"):
                pending.pop(0)
                continue
            if info.health == "unhealthy":
                raise StepFailed(f"data restored, but container {info.name} is unhealthy afterwards")
            if time.monotonic() > deadline:
                raise StepFailed(f"data restored, but container {info.name} was not healthy in time")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def settle_stack_restore(self, row: BackupRestore) -> list[dict[str, Any]]:
        """The volumes of an interrupted stack restore, settled by the worker's ``recover`` under the stack's
        lock (see :meth:`~rivetr_core.services.backups.BackupService.settle_interrupted_restores`)."""
        from rivetr_core.stacks.naming import volume_name

        assert row.stack_id is not None
        runtime = await self._volume_runtime()
        dirs = []
        for entry in row.volumes or []:
            volume = StackVolume(str(entry["name"]), volume_name(row.stack_id, str(entry["name"])))
            path = await runtime.volume_path(volume.engine_name)
            if path:
                dirs.append({"name": volume.name, "path": str(path)})
        if not dirs:
            return []
        async with self._stack_lock(row.stack_id):
            report: list[dict[str, Any]] = (await self._worker({"op": "recover", "targets": dirs}))[
                "recovered"
            ]
        return report
