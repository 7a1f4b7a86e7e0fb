"""Restores (part of :class:`~rivetr_core.services.backups.BackupService`): stage the archive beside the live
data while the app runs, stop its containers, swap the staged files in, start them, health-check the app.
Anything failing before the swap discards the staging: the live data is untouched."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from sqlmodel import select

from rivetr_core.contract.errors import RivetrError, ValidationFailed
from rivetr_core.models.apps import App, Deployment
from rivetr_core.models.backups import Backup, BackupDestination, BackupRestore
from rivetr_core.models.volumes import Volume

from .backup_base import SHUTDOWN, BackupBase, StepFailed, failure_text, volume_entry
from .backup_destinations import worker_destination

if TYPE_CHECKING:
    from rivetr_core.pagination import PageQuery


class RestoresMixin(BackupBase):
    async def get_restore(self, restore_id: str) -> BackupRestore:
        row: BackupRestore = await self._get(BackupRestore, restore_id, "restore")
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
        dest = await self._restorable(backup)
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
            row.volumes = [volume_entry(v) for v in targets]
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
            error = SHUTDOWN
            raise
        except Exception as exc:
            error = failure_text(exc, f"restore {row.id} into app {app.name}")
        finally:
            self._busy.pop(app.id, None)
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
            await self._finish_restore(row, error, subject=app.name, restored="volumes", app=app, data=data)

    async def _swap_stopped(
        self, runtime: Any, app: App, token: str, paths: list[dict[str, str]]
    ) -> list[str]:
        """The app's side of :meth:`_swap_in`: its running containers, under its switch lock, its route
        following the restarted container. Returns the ids of the containers started again."""
        async with self._switch_lock(app.id):
            return await self._swap_in(
                runtime,
                lambda: self._running_containers(runtime, app.id),
                token,
                paths,
                restarted=lambda: self._follow_upstream(runtime, app),
            )

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
            host_header=domains[0].partition("/")[0] if domains else None,  # an entry may hold a path
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
