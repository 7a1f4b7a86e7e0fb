"""Stop, start and restart an app's serving container in place (``POST /api/apps/{id}/stop|start|restart``).

These operate the current deployment's container; they never build, redeploy or roll back:

* ``stop`` marks the app ``stopped`` first (the crash watcher restarts only ``running`` apps, and checks again
  under the same switch lock held here), empties its routes (the proxy answers 503 "no healthy instance"
  instead of a 502 to a dead port) and stops the container, which is kept with its deployment record so that
  ``start`` is quick. Nothing brings it back by itself: start-up recovery keeps a current deployment's
  container, the crash watcher skips a stopped app, and the container's restart policy is ``no``, so an engine
  or Rivetr restart leaves it stopped.
* ``start`` starts that container again, waits for the app's health check exactly as a deployment does
  (:func:`~rivetr_core.engine.pipeline.wait_healthy`), points the routes at it (the engine may have given it
  another port or address) and marks the app ``running``. A container that does not become healthy is stopped
  again and the app stays ``stopped`` (409 ``health_check_failed`` with the probes' outcomes).
* ``restart`` stops and starts the running container (same image, env and volumes; a new start time), health
  checked the same way; a container that does not come back healthy is left to the crash watcher.

A deployment of a stopped app is a normal deployment: its switch marks the app ``running`` again. All three
refuse while a deployment of the app is queued or in progress (409 ``deployment_in_progress``) and emit
``app_stopped`` / ``app_started`` / ``app_restarted`` for notification channels.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

from sqlmodel import col, select

from rivetr_core.contract import ContainerNotFound, ContainerRuntime, RivetrEvent
from rivetr_core.contract.errors import Conflict, NotFound
from rivetr_core.db import utcnow
from rivetr_core.engine.pipeline import PipelineError, wait_healthy
from rivetr_core.models.apps import ACTIVE_STATUSES, App, Deployment

if TYPE_CHECKING:
    from rivetr_core.context import RivetrContext
    from rivetr_core.engine.service import DeploymentService

log = logging.getLogger("rivetr.apps.lifecycle")

#: Seconds between SIGTERM and SIGKILL, as a deployment's drain gives a replaced container.
STOP_TIMEOUT = 10.0


class AppLifecycle:
    def __init__(self, ctx: RivetrContext) -> None:
        self.ctx = ctx

    @property
    def _deployments(self) -> DeploymentService:
        return self.ctx.services.deployments  # type: ignore[no-any-return]

    async def stop(self, app_id: str) -> App:
        svc = self._deployments
        runtime = await self.ctx.runtime()  # no engine: 503 before anything changes
        async with svc.switch_lock(app_id):
            app, dep = await self._current(app_id)
            if app.status != "running" or dep is None:
                raise Conflict(
                    f"app {app.name!r} is {app.status}: nothing runs to stop",
                    code="not_running",
                    details={"status": app.status},
                )
            containers = await self._containers(dep)
            await self._set_status(app_id, "stopped")
            await self._route(app, [])
            try:
                for container_id, _ in containers:
                    try:
                        await runtime.stop(container_id, timeout=STOP_TIMEOUT)
                    except ContainerNotFound:
                        pass  # gone already: stopped is what was asked (a start then says to deploy again)
            except Exception:
                # The container may still serve: put the app back as it was rather than claim it stopped.
                await self._set_status(app_id, "running")
                await self._route(app, [up for _, up in containers if up])
                raise
        self._emit("app_stopped", app, dep, f"{app.name}: stopped")
        return await self._app(app_id)

    async def start(self, app_id: str) -> App:
        svc = self._deployments
        runtime = await self.ctx.runtime()
        async with svc.switch_lock(app_id):
            app, dep = await self._current(app_id)
            if app.status != "stopped" or dep is None:
                raise Conflict(
                    f"app {app.name!r} is {app.status}, not stopped",
                    code="not_stopped",
                    details={"status": app.status},
                )
            upstreams = await self._run_all(runtime, app, dep, restart=False)
            await self._set_status(app_id, "running")
            await self._route(app, upstreams)
        self._emit("app_started", app, dep, f"{app.name}: started")
        return await self._app(app_id)

    async def restart(self, app_id: str) -> App:
        svc = self._deployments
        runtime = await self.ctx.runtime()
        async with svc.switch_lock(app_id):
            app, dep = await self._current(app_id)
            if app.status != "running" or dep is None:
                raise Conflict(
                    f"app {app.name!r} is {app.status}: only a running app restarts (start a stopped one)",
                    code="not_running",
                    details={"status": app.status},
                )
            upstreams = await self._run_all(runtime, app, dep, restart=True)
            await self._route(app, upstreams)
        self._emit("app_restarted", app, dep, f"{app.name}: restarted")
        return await self._app(app_id)

    # ------------------------------------------------------------------------------------------ helpers
    async def _current(self, app_id: str) -> tuple[App, Deployment | None]:
        """The app and its current running deployment with a container (None without one); 409 while a
        deployment of it is queued or in progress (its switch would race this operation)."""
        async with self.ctx.db.session() as session:
            app = await session.get(App, app_id)
            if app is None:
                raise NotFound.of("app", app_id)
            busy = (
                await session.exec(
                    select(Deployment.id).where(
                        Deployment.app_id == app_id, col(Deployment.status).in_(ACTIVE_STATUSES)
                    )
                )
            ).first()
            dep = (
                await session.get(Deployment, app.current_deployment_id)
                if app.current_deployment_id
                else None
            )
        if busy is not None:
            raise Conflict(
                f"a deployment of app {app.name!r} is in progress ({busy}); wait for it or cancel it",
                code="deployment_in_progress",
                details={"deployment_id": busy},
            )
        if dep is None or dep.status != "running" or not dep.container_id:
            dep = None
        return app, dep

    async def _containers(self, dep: Deployment) -> list[tuple[str, str | None]]:
        """``(container id, upstream)`` of every replica of the deployment (rivetr_core.engine.replicas)."""
        from rivetr_core.engine.replicas import containers_of

        return await containers_of(self.ctx.db, dep)

    async def _run_all(
        self, runtime: ContainerRuntime, app: App, dep: Deployment, *, restart: bool
    ) -> list[str]:
        """(Re)start every replica of the deployment, one after the other (a restart keeps the others serving),
        each health-checked; returns their upstreams. A start that fails leaves them all stopped."""
        from rivetr_core.engine.replicas import extra_rows, record

        upstreams = [await self._run_again(runtime, app, dep, restart=restart)]
        for row in await extra_rows(self.ctx.db, dep.id):
            if not row["container_id"]:
                continue
            try:
                upstream = await self._run_again(
                    runtime, app, dep, restart=restart, container_id=row["container_id"], index=row["index"]
                )
            except Exception:
                if not restart:
                    for container_id, _ in await self._containers(dep):
                        with contextlib.suppress(Exception):
                            await runtime.stop(container_id, timeout=STOP_TIMEOUT)
                raise
            if upstream != row["upstream"]:
                await record(
                    self.ctx.db,
                    dep.id,
                    row["index"],
                    row["container_id"],
                    row["container_name"] or "",
                    upstream,
                    restart_count=row["restart_count"],
                )
            upstreams.append(upstream)
        return upstreams

    async def _run_again(
        self,
        runtime: ContainerRuntime,
        app: App,
        dep: Deployment,
        *,
        restart: bool,
        container_id: str | None = None,
        index: int = 0,
    ) -> str:
        """(Re)start the deployment's container (replica ``index``'s ``container_id``), wait until it is
        healthy; returns its upstream and records replica 0's when the engine moved it (a dynamically published
        port is picked again at each start)."""
        start = getattr(runtime, "start", None)
        if start is None:
            raise Conflict(
                f"the {runtime.name} runtime cannot start a stopped container: deploy the app instead",
                code="runtime_unsupported",
            )
        container_id = container_id or dep.container_id or ""
        try:
            if restart:
                await runtime.stop(container_id, timeout=STOP_TIMEOUT)
            await start(container_id)
            info = await runtime.inspect(container_id)
        except ContainerNotFound:
            raise Conflict(
                f"the container of app {app.name!r} no longer exists: deploy the app again",
                code="container_gone",
                details={"deployment_id": dep.id},
            ) from None
        upstream = info.upstream
        if not upstream:
            raise Conflict(
                f"the runtime reports no address for the container of app {app.name!r}",
                code="no_address",
            )
        notes: list[str] = []
        domains = await self._deployments.app_domains(app.id)
        try:
            await wait_healthy(
                self._deployments,
                app,
                domains,
                runtime,
                container_id,
                upstream,
                note=notes.append,
                deployment_id=dep.id,
            )
        except PipelineError as exc:
            if not restart:  # a start that fails leaves the app as it was: stopped
                await runtime.stop(container_id, timeout=STOP_TIMEOUT)
            raise Conflict(
                f"app {app.name!r} did not become healthy: {exc}",
                code="health_check_failed",
                details={"log": notes[-10:]},
            ) from None
        if index == 0 and upstream != dep.upstream:
            await self._deployments.update_deployment(dep.id, upstream=upstream)
        return upstream

    async def _route(self, app: App, upstreams: list[str]) -> None:
        routes = self.ctx.services.routes
        for domain in await self._deployments.app_domains(app.id):
            await routes.set(
                domain, upstreams, app_id=app.id, https_redirect=app.https_redirect, hsts=app.hsts
            )

    async def _set_status(self, app_id: str, status: str) -> None:
        async with self.ctx.db.session() as session:
            row = await session.get(App, app_id)
            if row is not None:
                row.status, row.updated_at = status, utcnow()
                session.add(row)
                await session.commit()

    async def _app(self, app_id: str) -> App:
        async with self.ctx.db.session() as session:
            app = await session.get(App, app_id)
        if app is None:
            raise NotFound.of("app", app_id)
        return app

    def _emit(self, type_: str, app: App, dep: Deployment | None, message: str) -> None:
        try:
            self.ctx.emit(
                RivetrEvent(
                    type=type_,
                    message=message,
                    app_id=app.id,
                    app_name=app.name,
                    deployment_id=dep.id if dep else None,
                )
            )
        except Exception:
            log.exception("emitting %s failed", type_)
