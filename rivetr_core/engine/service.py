"""``DeploymentService``: the Python API of the pipeline (``ctx.services.deployments``).

Everything that starts, stops or watches deployments goes through here: the REST API, git webhooks, the
dashboard, the CLI. All methods are coroutines on the control plane's loop.

Deploying
    ``await svc.deploy(app_id, commit=None, trigger="api") -> Deployment`` — queue a deployment (status
    ``queued``) and return at once; the pipeline runs in the background. A newer request supersedes the app's
    deployments still waiting. ``trigger`` is free text recorded on the deployment (``api``, ``webhook``,
    ``dashboard``, ``cli``…). Raises :class:`~rivetr_core.contract.errors.NotFound` for an unknown app,
    :class:`~rivetr_core.contract.errors.Conflict` for one being deleted.

    ``await svc.rollback(deployment_id) -> Deployment`` — a new deployment reusing that deployment's image (no
    clone, no build) through the same health check and switch. ``Conflict`` when the image is gone.

    ``await svc.cancel(deployment_id) -> Deployment`` — cancel at any step before ``switching``; the new
    container and image are removed and the old version keeps serving. ``Conflict`` once switching or
    finished.

Watching
    ``async for change in svc.subscribe():`` — every status change of every deployment:
    ``{"type": "deployment_status", "deployment_id", "app_id", "status", "error", "ts"}``; the dashboard
    renders live pipeline progress from it. Leave the loop to unsubscribe.

    ``async for item in svc.follow_logs(deployment_id):`` — replay the build log, then follow it until the
    pipeline ends (ends at once for a finished deployment): ``(ts, line)`` tuples, and a ``StatusMark`` where
    the status changed while the pipeline runs.

    ``svc.busy()`` — True while a pipeline runs (cleanup: do not ``runtime.prune()`` then, it breaks builds).

Reading
    ``await svc.get_deployment(id)``, ``await svc.list_for_app(app_id, page)`` (newest first, a page at a
    time), ``await svc.running_container(app_id)`` and ``await svc.container_logs(app_id, tail=, follow=)``
    (the running container's output; ``NotFound`` / ``Conflict`` ``no_container`` are raised before any line).

Apps
    ``await svc.delete_app(app_id)`` — mark the app ``deleting`` (under its switch lock, so the crash watcher
    never restarts its container from then on and no deploy starts), cancel its deployments, remove routes,
    containers and images, sweep once more by label for anything that appeared meanwhile, delete the rows,
    notify ``rivetr_on_app_deleted``. ``await svc.sync_routes(app_id, old_domains)`` — after an
    edit of an app's domains or HTTPS flags, point the new domains at the running container, drop the removed
    ones and apply the app's ``https_redirect``/``hsts`` to every route of the app.

Containers Rivetr starts carry the labels ``rivetr.managed=true``, ``rivetr.instance=<id of this data dir>``,
``rivetr.app=<app id>`` and ``rivetr.deployment=<deployment id>``; recovery removes labelled containers of
this instance that no deployment tracks. Images are tagged ``localhost/rivetr/<app name>:<deployment id>``
and labelled ``rivetr.instance`` and ``rivetr.app`` only (each build label costs a build step).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import text
from sqlmodel import col, select

from rivetr_core.contract import (
    Builder,
    BuilderRegistration,
    BuildRequest,
    ContainerNotFound,
    ContainerRuntime,
    HealthCheck,
    LogLine,
    RivetrEvent,
    RuntimeUnavailable,
    unavailable_reason,
)
from rivetr_core.contract.errors import Conflict, NotFound
from rivetr_core.db import isoformat, new_id, utcnow
from rivetr_core.models.apps import (
    ACTIVE_STATUSES,
    App,
    AppDomain,
    Deployment,
    EnvVar,
    SshKey,
)
from rivetr_core.models.core import Meta
from rivetr_core.models.git import Preview
from rivetr_core.models.volumes import Volume
from rivetr_core.services.volumes import mounts_for

from .claims import claim_deployment
from .logs import BuildLogStore, LogItem
from .pipeline import (
    LABEL_APP,
    LABEL_DEPLOYMENT,
    LABEL_INSTANCE,
    LABEL_MANAGED,
    AppSnapshot,
    Pipeline,
    PipelineError,
)
from .queue import DeploymentQueue

if TYPE_CHECKING:
    from rivetr_core.pagination import PageQuery

    from .planes import ControlPlanes

log = logging.getLogger("rivetr.engine")

STATUS_QUEUE_LIMIT = 1000
#: Whether an app has a link to a managed service, without loading that feature's models.
_HAS_LINKS = text("SELECT 1 FROM service_links WHERE app_id = :app_id LIMIT 1")


def route_flags(app: App) -> dict[str, bool]:
    """The app's HTTPS flags as :meth:`RouteService.set` keyword arguments."""
    return {"https_redirect": app.https_redirect, "hsts": app.hsts}


class DeploymentService:
    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.db = ctx.db
        self.logs = BuildLogStore(ctx.db)
        self.queue = DeploymentQueue(ctx.config.runtime.max_concurrent_deployments, ctx.spawn)
        self.instance_id = ""
        #: PostgreSQL: this process's control plane (engine/planes.py), set at start-up; None on SQLite.
        self.plane: ControlPlanes | None = None
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._health_checks: dict[str, HealthCheck] = {}
        self._switch_locks: dict[str, asyncio.Lock] = {}

    # ------------------------------------------------------------------------------------------- set-up
    async def load_instance_id(self) -> str:
        """A stable id per data dir, labelled on every container: two Rivetrs on one engine never touch
        each other's containers."""
        async with self.db.session() as session:
            row = await session.get(Meta, "instance_id")
            if row is None:
                row = Meta(key="instance_id", value=new_id()[:16])
                session.add(row)
                await session.commit()
            self.instance_id = row.value
        return self.instance_id

    def switch_lock(self, app_id: str) -> asyncio.Lock:
        """Held while an app's serving container changes (a pipeline's switch, a crash restart): short, unlike
        the queue's per-app lock that a pipeline holds through its whole build."""
        return self._switch_locks.setdefault(app_id, asyncio.Lock())

    def image_labels(self, app_id: str) -> dict[str, str]:
        """Labels of built images: enough for cleanup to find an app's images of this instance."""
        return {LABEL_INSTANCE: self.instance_id, LABEL_APP: app_id}

    def labels(self, app_id: str, deployment_id: str | None = None) -> dict[str, str]:
        labels = {LABEL_MANAGED: "true", LABEL_INSTANCE: self.instance_id, LABEL_APP: app_id}
        if deployment_id:
            labels[LABEL_DEPLOYMENT] = deployment_id
        return labels

    # ---------------------------------------------------------------------------------------- deploying
    async def deploy(
        self,
        app_id: str,
        *,
        commit: str | None = None,
        trigger: str = "api",
        rollback_of: str | None = None,
        no_cache: bool = False,
        started_by: str | None = None,
    ) -> Deployment:
        async with self.db.session() as session:
            app = await session.get(App, app_id)
            if app is None:
                raise NotFound.of("app", app_id)
            if app.status == "deleting":
                raise Conflict(f"app {app.name!r} is being deleted", code="app_deleting")
            dep = Deployment(
                app_id=app_id,
                status="queued",
                trigger=trigger,
                started_by=started_by,
                requested_commit=commit,
                rollback_of=rollback_of,
                no_cache=no_cache,
                plane_id=self.plane.id if self.plane is not None else None,
            )
            session.add(dep)
            await session.commit()
        self.logs.open(dep.id)
        self.logs.append(
            dep.id,
            f"queued by {trigger}"
            + (f" (commit {commit})" if commit else "")
            + (f" (rollback of {rollback_of})" if rollback_of else "")
            + (" (without the build cache)" if no_cache else ""),
        )
        superseded = self.queue.submit(
            dep.id, app_id, lambda: self._run(dep.id), lambda reason: self._dropped(dep.id, reason)
        )
        for other in superseded:
            await self._dropped(other, "superseded", by=dep.id)
        self._publish(dep, None)
        return dep

    async def rollback(
        self, deployment_id: str, *, trigger: str = "rollback", started_by: str | None = None
    ) -> Deployment:
        source = await self.get_deployment(deployment_id)
        if source.status not in ("running", "replaced") or not source.image or source.image_removed:
            raise Conflict(
                f"deployment {deployment_id!r} has no image to roll back to "
                f"(status {source.status}{', image removed' if source.image_removed else ''})",
                code="rollback_unavailable",
            )
        return await self.deploy(source.app_id, trigger=trigger, rollback_of=source.id, started_by=started_by)

    async def cancel(self, deployment_id: str) -> Deployment:
        dep = await self.get_deployment(deployment_id)
        if dep.status not in ACTIVE_STATUSES or dep.status == "switching":
            raise Conflict(
                f"deployment {deployment_id!r} is {dep.status}; it can no longer be cancelled",
                code="not_cancellable",
            )
        if self.queue.is_running(deployment_id):
            self.queue.cancel(deployment_id, "cancelled")
            await self.queue.wait(deployment_id, timeout=60)
        else:
            self.queue.cancel(deployment_id, "cancelled")
            await self._dropped(deployment_id, "cancelled")
        return await self.get_deployment(deployment_id)

    async def _run(self, deployment_id: str) -> None:
        dep = await self.get_deployment(deployment_id)
        if dep.status != "queued":
            return
        plane_id = self.plane.id if self.plane is not None else None
        if self.db.dialect == "postgresql" and not await claim_deployment(self.db, deployment_id, plane_id):
            return  # another control plane on this database runs it (engine/claims.py)
        source = await self.get_deployment(dep.rollback_of) if dep.rollback_of else None
        try:
            snap = await self.snapshot(dep.app_id)
        except Exception as exc:  # e.g. a secret that no longer decrypts: fail this deployment, loudly
            log.exception("cannot prepare deployment %s", deployment_id)
            await self.update_deployment(
                deployment_id, status="failed", error=f"cannot prepare: {exc}", finished_at=utcnow()
            )
            await self.logs.close(deployment_id)
            return
        await Pipeline(self, dep, snap, source=source).run()

    async def _dropped(self, deployment_id: str, reason: str | None, *, by: str | None = None) -> None:
        """A deployment that never started: superseded, cancelled while queued, or shut down while queued."""
        dep = await self.get_deployment(deployment_id)
        if dep.status != "queued":
            return
        status = reason or "failed"
        error = None if reason else "interrupted (the server stopped before it started)"
        self.logs.append(deployment_id, f"deployment {status}" + (f" by {by}" if by else ""))
        await self.update_deployment(deployment_id, status=status, error=error, finished_at=utcnow())
        await self.logs.close(deployment_id)

    # ------------------------------------------------------------------------------------------- queries
    def busy(self) -> bool:
        """True while any pipeline runs. Cleanup's ``runtime.prune(labels)`` must wait: Rivetr's own builds
        carry its labels on every stage, so a prune would delete the intermediate (dangling) images of a build in
        progress and make that build fail."""
        return self.queue.running_count() > 0

    async def get_deployment(self, deployment_id: str) -> Deployment:
        async with self.db.session() as session:
            dep = await session.get(Deployment, deployment_id)
        if dep is None:
            raise NotFound.of("deployment", deployment_id)
        return dep

    async def app_domains(self, app_id: str) -> list[str]:
        async with self.db.session() as session:
            rows = await session.exec(
                select(AppDomain).where(AppDomain.app_id == app_id).order_by(col(AppDomain.position))
            )
            explicit = [row.domain for row in rows.all()]
        from rivetr_core.autodomains import with_generated  # the app's generated name, routed like these

        return await with_generated(self.ctx, app_id, explicit)

    async def app_and_current(self, app_id: str) -> tuple[App | None, Deployment | None]:
        """The app (None if it does not exist) and its current deployment (None if it has none)."""
        async with self.db.session() as session:
            app = await session.get(App, app_id)
            current = (
                await session.get(Deployment, app.current_deployment_id)
                if app and app.current_deployment_id
                else None
            )
        return app, current

    async def list_for_app(self, app_id: str, page: PageQuery) -> tuple[list[Deployment], str | None]:
        """A page of the app's deployments, newest first, and the next page's cursor; ``NotFound`` for an
        unknown app."""
        from rivetr_core.pagination import keyset_page

        async with self.db.session() as session:
            if await session.get(App, app_id) is None:
                raise NotFound.of("app", app_id)
            stmt = select(Deployment).where(Deployment.app_id == app_id)
            return await keyset_page(session, stmt, Deployment, page, newest_first=True)

    async def running_container(self, app_id: str, *, replica: int = 0) -> str:
        """The id of the app's running container (replica ``replica``'s, see rivetr_core.engine.replicas):
        ``NotFound`` for an unknown app or replica, ``Conflict`` (``no_container``) when no deployment of it
        runs."""
        app, current = await self.app_and_current(app_id)
        if app is None:
            raise NotFound.of("app", app_id)
        if current is None or not current.container_id:
            raise Conflict("the app has no running container", code="no_container")
        if replica:
            from .replicas import extra_rows

            found = [r for r in await extra_rows(self.db, current.id) if r["index"] == replica]
            if not found or not found[0]["container_id"]:
                raise NotFound.of("replica", str(replica))
            return str(found[0]["container_id"])
        return current.container_id

    async def container_logs(
        self, app_id: str, *, tail: int, follow: bool, replica: int = 0
    ) -> AsyncIterator[LogLine]:
        """The stdout/stderr lines of the app's running container (the last ``tail`` first, then new ones
        while ``follow``). Every check happens before it returns (unknown app, nothing running, no engine:
        see :meth:`running_container`), so a caller can refuse before it starts answering."""
        container_id = await self.running_container(app_id, replica=replica)
        runtime = await self.ctx.runtime()
        return runtime.logs(container_id, tail=tail, follow=follow)

    async def snapshot(self, app_id: str) -> AppSnapshot:
        """The app as the pipeline uses it, env values and credentials decrypted (in memory only)."""
        box = self.ctx.secrets
        async with self.db.session() as session:
            app = await session.get(App, app_id)
            if app is None:
                raise NotFound.of("app", app_id)
            env_rows = (await session.exec(select(EnvVar).where(EnvVar.app_id == app_id))).all()
            key = await session.get(SshKey, app.ssh_key_id) if app.ssh_key_id else None
            fork = (
                await session.exec(
                    select(Preview.id).where(Preview.preview_app_id == app_id, col(Preview.is_fork))
                )
            ).first()
            volumes = (await session.exec(select(Volume).where(Volume.app_id == app_id))).all()
            # Raw SQL first: an app without links never loads the managed-services feature (idle memory).
            linked = (
                fork is None
                and (await session.exec(_HAS_LINKS.bindparams(app_id=app_id))).first() is not None
            )
        links = await self._link_settings(app_id) if linked else None
        network = links.network if links else None
        if network is None and fork is None:
            # Every app is on its project's private network, reachable there by its name (docs/compose.md).
            from rivetr_core.projectnet import ensure_project_network

            try:
                runtime = await self.ctx.runtime()
            except RuntimeUnavailable:
                runtime = None  # the pipeline reports the missing engine when it needs it
            if runtime is not None:
                network = await ensure_project_network(runtime, app.project_id, self.instance_id)
        return AppSnapshot(
            app=app,
            domains=await self.app_domains(app_id),
            env={row.key: box.decrypt(row.value_enc) for row in env_rows if row.scope != "build"},
            build_env={row.key: box.decrypt(row.value_enc) for row in env_rows if row.scope != "runtime"},
            build_secrets=sorted(row.key for row in env_rows if row.scope != "runtime" and row.is_secret),
            ssh_private_key=box.decrypt(key.private_key_enc) if key else None,
            git_token=box.decrypt(app.git_token_enc) if app.git_token_enc else None,
            git_token_user=app.git_token_user,
            untrusted=fork is not None,
            mounts=mounts_for(app_id, list(volumes), self.instance_id),
            link_env=links.env if links else {},
            network=network,
        )

    async def _link_settings(self, app_id: str) -> Any:
        """The env and network of the app's links, the network created before any container needs it. A
        fork's preview never gets links (its code is untrusted; it runs on the isolated fork network)."""
        from rivetr_core.services.service_links import ServiceLinkService

        links = ServiceLinkService(self.ctx)
        settings = await links.settings(app_id)
        if settings.network:
            await links.ensure_network(settings, await self.ctx.runtime(), self.instance_id)
        return settings

    # --------------------------------------------------------------------------------------- pipeline API
    async def update_deployment(self, deployment_id: str, **fields: Any) -> Deployment:
        """Write fields of a deployment; a status change is published to subscribers and plugins."""
        async with self.db.session() as session:
            dep = await session.get(Deployment, deployment_id)
            if dep is None:
                raise NotFound.of("deployment", deployment_id)
            previous = dep.status
            for key, value in fields.items():
                setattr(dep, key, value)
            session.add(dep)
            await session.commit()
        if dep.status != previous:
            self._publish(dep, previous)
        return dep

    def select_builder(self, source_dir: Path, request: BuildRequest, name: str = "auto") -> Builder:
        """The builder an app named (only that one is asked: another whose ``detect()`` says yes never takes
        over), or with ``"auto"`` the first by priority whose ``detect()`` says yes."""
        installed = self.ctx.plugins.builders()
        if name != "auto":
            registration = installed.get(name)
            if registration is None:
                raise PipelineError(
                    f"the app's builder {name!r} is not installed (available: "
                    f"{', '.join(['auto', *sorted(installed)])})"
                )
            reason = unavailable_reason(registration)
            if reason:
                raise PipelineError(f"the {name} builder the app names is unavailable: {reason}")
            builder = registration.factory(self.ctx.plugin_context())
            if not builder.detect(source_dir, request):
                raise PipelineError(
                    f"the {name} builder the app names cannot build this source "
                    f"({self._why_not({name: registration}, source_dir, request) or 'its detect() said no'}); "
                    "fix the source or set the app's builder to another one or to auto"
                )
            return builder
        registrations = sorted(installed.values(), key=lambda r: (r.priority, r.name))
        for registration in registrations:
            builder = registration.factory(self.ctx.plugin_context())
            if builder.detect(source_dir, request):
                return builder
        available = {r.name: r for r in registrations if not unavailable_reason(r)}
        explained = self._why_not(available, source_dir, request)
        raise PipelineError(
            f"no builder can build this source: {request.dockerfile!r} not found in build context "
            f"{request.build_context!r}{'; ' + explained if explained else ''} (builders: {', '.join(r.name for r in registrations) or 'none'})"
        )

    def _why_not(
        self, registrations: dict[str, BuilderRegistration], source_dir: Path, request: BuildRequest
    ) -> str:
        """What the builders that can explain themselves looked for (the autodetect builder lists its detectors
        and suggests a Dockerfile), so the user learns what to add. Imported on this failure path only."""
        from rivetr_core.services.build_plan import why_not

        reasons = why_not(registrations, self.ctx.plugin_context(), source_dir, request)
        return "; ".join(reason for reason in reasons.values() if reason != "detect() said no")

    def health_check(self, name: str) -> HealthCheck:
        if name not in self._health_checks:
            installed = self.ctx.plugins.health_checks()
            registration = installed.get(name)
            if registration is None:  # uninstalled since the app chose it
                raise PipelineError(
                    f"the app's health check {name!r} is not installed (available: "
                    f"{', '.join(sorted(installed)) or 'none'})"
                )
            self._health_checks[name] = registration.factory(self.ctx.plugin_context())
        return self._health_checks[name]

    async def switch(
        self, snap: AppSnapshot, dep: Deployment, upstream: str, *, extra_upstreams: list[str] | None = None
    ) -> Deployment | None:
        """Point the app's domains at ``upstream`` (and the deployment's other replicas' ``extra_upstreams``, all
        at once: the proxy balances them) and make ``dep`` the running deployment.

        Returns the deployment it replaced (its container is still running: the caller drains it).
        """
        routes = self.ctx.services.routes
        domains = await self.app_domains(snap.app.id)
        # One transaction for the routes and the app's current deployment: a crash (kill -9, power loss)
        # leaves either the old version fully in place or the new one, never routes to a container that
        # start-up recovery would remove as an orphan. The proxy learns of it after the commit.
        async with self.db.session() as session:
            app = await session.get(App, snap.app.id)
            assert app is not None
            flags = route_flags(app)  # HTTPS flags edited during the build apply too
            rows = [
                await routes.stage(
                    session, domain, [upstream, *(extra_upstreams or ())], snap.app.id, **flags
                )
                for domain in domains
            ]
            old = (
                await session.get(Deployment, app.current_deployment_id)
                if app.current_deployment_id
                else None
            )
            app.current_deployment_id, app.status, app.updated_at = dep.id, "running", utcnow()
            session.add(app)
            if old is not None and old.id != dep.id and old.status == "running":
                old.status = "replaced"
                session.add(old)
            else:
                old = None
            await session.commit()
        for row in rows:
            await routes.publish(row)
        if old is not None:
            self._publish(old, "running")
        return old

    async def remove_container(self, runtime: ContainerRuntime, container_id: str) -> None:
        try:
            await runtime.stop(container_id, timeout=10)
        except ContainerNotFound:
            return
        except Exception:
            log.warning(
                "stopping container %s failed; removing it by force", container_id[:12], exc_info=True
            )
        with contextlib.suppress(ContainerNotFound):
            await runtime.remove(container_id, force=True)

    async def after_recreate_failure(self, app_id: str) -> None:
        """A ``recreate`` deployment failed after stopping the serving container: nothing runs any more."""
        async with self.db.session() as session:
            app = await session.get(App, app_id)
            if app is not None and app.status == "running":
                app.current_deployment_id, app.status, app.updated_at = None, "failed", utcnow()
                session.add(app)
                await session.commit()

    async def after_failure(self, app_id: str) -> None:
        async with self.db.session() as session:
            app = await session.get(App, app_id)
            if app is not None and app.current_deployment_id is None and app.status != "failed":
                app.status = "failed"
                session.add(app)
                await session.commit()

    async def prune_images(self, app_id: str, keep: int) -> list[str]:
        """Keep the images of the app's last ``keep`` successful deployments (for rollback), remove older."""
        async with self.db.session() as session:
            app = await session.get(App, app_id)
            deps = (
                await session.exec(
                    select(Deployment)
                    .where(
                        Deployment.app_id == app_id,
                        col(Deployment.image).is_not(None),
                        col(Deployment.image_removed).is_(False),
                    )
                    .order_by(col(Deployment.created_at).desc())
                )
            ).all()
        current = next((d.image for d in deps if app and d.id == app.current_deployment_id), None)
        kept: list[str] = [current] if current else []
        doomed: list[str] = []
        for dep in deps:
            if dep.image in kept or dep.image in doomed or dep.status in ACTIVE_STATUSES:
                continue
            (kept if len(kept) < keep else doomed).append(dep.image)  # type: ignore[arg-type]
        if not doomed:
            return []
        runtime = await self.ctx.runtime()
        for image in doomed:
            try:
                await runtime.remove_image(image, force=True)
            except Exception as exc:
                log.warning("could not remove old image %s: %s", image, exc)
        async with self.db.session() as session:
            for dep in deps:
                if dep.image in doomed:
                    dep.image_removed = True
                    session.add(dep)
            await session.commit()
        return doomed

    # ----------------------------------------------------------------------------------------------- apps
    async def sync_routes(self, app_id: str, old_domains: list[str]) -> None:
        routes = self.ctx.services.routes
        new_domains = await self.app_domains(app_id)
        for domain in old_domains:
            if domain not in new_domains:
                row = await routes.get(domain)
                if row is not None and row.app_id == app_id:
                    await routes.remove(domain)
        app, current = await self.app_and_current(app_id)
        if app is None:
            return
        serving = current is not None and current.status == "running" and app.status != "stopped"
        # A stopped app keeps its routes without upstreams (the proxy answers 503) until it starts again.
        upstream = current.upstream if serving and current is not None else None
        upstreams = [upstream] if upstream else []
        if upstream and current is not None:  # every replica of it (rivetr_core.engine.replicas)
            from .replicas import upstreams_of

            upstreams = await upstreams_of(self.db, current)
        for domain in new_domains:
            if upstream:
                await routes.set(domain, upstreams, app_id=app_id, **route_flags(app))
            else:
                row = await routes.get(domain)
                if row is not None and row.app_id == app_id:  # not serving now: only the flags change
                    await routes.set(domain, list(row.upstreams), app_id=app_id, **route_flags(app))

    async def delete_app(self, app_id: str, *, keep_volumes: bool = False) -> App:
        """Remove the app: containers, routes, images, then its rows. ``keep_volumes``: its volume rows go
        in the same transaction that marks it ``deleting``, which is how a deletion finished by recovery
        knows to leave the engine volumes (see ``AppService.delete``)."""
        async with self.db.session() as session:
            app = await session.get(App, app_id)
            if app is None:
                raise NotFound.of("app", app_id)
            deps = (await session.exec(select(Deployment).where(Deployment.app_id == app_id))).all()
        needs_engine = any(d.container_id or (d.image and not d.image_removed) for d in deps)
        runtime = None
        if needs_engine:
            try:
                runtime = await self.ctx.runtime()
            except RuntimeUnavailable as exc:
                raise RuntimeUnavailable(f"cannot remove the app's containers: {exc.message}") from None
        # First, under the lock crash restarts and switches hold: from here on the crash watcher skips the
        # app (it restarts only ``running`` apps and checks again under this lock) and deploy() refuses it.
        # A restart that held the lock finished before we got it; its container is swept below.
        async with self.switch_lock(app_id):
            async with self.db.session() as session:
                row = await session.get(App, app_id)
                if row is None:
                    raise NotFound.of("app", app_id)
                row.status, row.updated_at = "deleting", utcnow()
                session.add(row)
                if keep_volumes:
                    for mount in (await session.exec(select(Volume).where(Volume.app_id == app_id))).all():
                        await session.delete(mount)
                await session.commit()
        for dep in deps:
            if dep.status in ACTIVE_STATUSES:
                self.queue.cancel(dep.id, "cancelled")
        for dep in deps:
            await self.queue.wait(dep.id, timeout=60)
        for waiting in self.queue.waiting(app_id):  # queued between our read and the status change
            self.queue.cancel(waiting, "cancelled")
            await self.queue.wait(waiting, timeout=60)
        routes = self.ctx.services.routes
        for domain in await self.app_domains(app_id):
            route = await routes.get(domain)
            if route is not None and route.app_id == app_id:
                await routes.remove(domain)
        if runtime is None and not needs_engine:
            runtime = self.ctx.runtime_if_ready()  # nothing tracked, but sweep if the engine is at hand
        if runtime is not None:
            await self._remove_app_containers(runtime, app_id, strict=needs_engine)
            for image in {d.image for d in deps if d.image and not d.image_removed}:
                try:
                    await runtime.remove_image(image, force=True)
                except Exception as exc:
                    log.warning("could not remove image %s of deleted app %s: %s", image, app.name, exc)
        # Final sweep, once nothing can start anything for the app any more: containers by label and routes
        # by owner (whatever a restart or a switch created after the first pass).
        async with self.switch_lock(app_id):
            if runtime is not None:
                await self._remove_app_containers(runtime, app_id, strict=needs_engine)
            for route in await routes.list():
                if route.app_id == app_id:
                    await routes.remove(route.domain)
        async with self.db.session() as session:
            row = await session.get(App, app_id)
            if row is not None:
                await session.delete(row)
                await session.commit()
        self._switch_locks.pop(app_id, None)
        if runtime is not None:
            from rivetr_core.projectnet import release_project_network

            await release_project_network(self.db, runtime, app.project_id)
        self.ctx.plugins.notify("rivetr_on_app_deleted", app_id=app_id, name=app.name)
        return app

    async def _remove_app_containers(
        self, runtime: ContainerRuntime, app_id: str, *, strict: bool = True
    ) -> list[str]:
        """Remove every container labelled with the app; ``strict=False``: an engine error is only logged
        (a sweep for an app that never had a container must not fail its deletion)."""
        try:
            infos = await runtime.list(labels={LABEL_INSTANCE: self.instance_id, LABEL_APP: app_id})
        except Exception:
            if strict:
                raise
            log.debug("container sweep of app %s skipped", app_id, exc_info=True)
            return []
        for info in infos:
            await self.remove_container(runtime, info.id)
        return [info.id for info in infos]

    # ---------------------------------------------------------------------------------------- events
    def emit(
        self,
        type_: str,
        dep: Deployment,
        app_name: str,
        message: str,
        *,
        level: str = "info",
        data: dict[str, Any] | None = None,
    ) -> None:
        event = RivetrEvent(
            type=type_,
            message=message,
            app_id=dep.app_id,
            app_name=app_name,
            deployment_id=dep.id,
            data=data or {},
            level=level,  # type: ignore[arg-type]
        )
        try:
            self.ctx.emit(event)
        except Exception:
            log.exception("emitting %s failed", type_)

    def _publish(self, dep: Deployment, previous: str | None) -> None:
        self.logs.mark(dep.id, dep.status)
        self.ctx.plugins.notify(
            "rivetr_on_deployment_status",
            deployment_id=dep.id,
            app_id=dep.app_id,
            status=dep.status,
            error=dep.error,
        )
        change = {
            "type": "deployment_status",
            "deployment_id": dep.id,
            "app_id": dep.app_id,
            "status": dep.status,
            "previous": previous,
            "error": dep.error,
            "ts": isoformat(utcnow()),
        }
        for queue in list(self._subscribers):
            if queue.qsize() < STATUS_QUEUE_LIMIT:
                queue.put_nowait(change)

    async def subscribe(self) -> AsyncIterator[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._subscribers.add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._subscribers.discard(queue)

    async def is_stack_deployment(self, deployment_id: str) -> bool:
        """Whether the id is a compose stack's deployment (raw SQL: the stacks feature stays unloaded)."""
        async with self.db.session() as session:
            found = await session.exec(  # type: ignore[call-overload]
                sa.text("SELECT 1 FROM stack_deployments WHERE id = :id"), params={"id": deployment_id}
            )
            return found.first() is not None

    def follow_logs(self, deployment_id: str) -> AsyncIterator[LogItem]:
        return self.logs.follow(deployment_id)

    async def stop(self) -> None:
        await self.logs.stop()
