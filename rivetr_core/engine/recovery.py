"""Start-up recovery and the crash watcher.

Recovery (once, at start-up):

1. Deployments left in a non-terminal state by a crash or kill are marked ``failed`` ("interrupted") —
   synchronously, before the API serves, so nobody sees a ghost ``building``.
2. Routes of running apps need nothing here: they live in ``proxy_routes`` and :class:`RouteService` pushed
   them to the proxy before this runs.
3. Orphans — containers labelled with this instance's id whose deployment is neither running with that
   container nor in progress — are stopped and removed, and stale build work dirs deleted. This needs the
   engine, so it runs in the background and never delays start-up.

The crash watcher lists this instance's containers every ``[runtime] crash_check_interval`` seconds (one
engine call, and none while no app runs). A running deployment whose container stopped or vanished is
restarted from the same image, env and limits after ``restart_backoff_seconds * 2**(n-1)`` (on its old host
port when free, so the route stays put); after ``restart_max_retries`` restarts the app is marked
``crashed`` and left alone until the next deployment. Only apps whose status is ``running`` are restarted,
checked again under the app's switch lock right before the restart: an app being deleted (``deleting``,
set under that lock) is never brought back.

Several control planes on one PostgreSQL database (engine/planes.py): each deployment records its plane
(``plane_id``), and all of the above touches only this plane's deployments and those of planes that are gone.
Recovery at start-up first adopts the dead planes' deployments (and those without a plane, written before planes
existed), then recovers only those; every lease round adopts and recovers the deployments of a plane whose lease
ran out (:func:`take_over`). A live plane's in-progress deployment, its running containers and its old ones
still draining are left alone; build dirs and unfinished app deletions are resumed only by a plane that starts
alone. SQLite keeps the single-process path: ``svc.plane`` is None and nothing here queries the planes.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import shutil
import time
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlmodel import col, select

from rivetr_core.contract import ContainerInfo, RuntimeUnavailable
from rivetr_core.db import utcnow
from rivetr_core.models.apps import ACTIVE_STATUSES, App, Deployment

from .pipeline import LABEL_DEPLOYMENT, LABEL_INSTANCE, LABEL_MANAGED, run_spec
from .planes import LIVE_PLANES_SQL

#: The status a runtime gives a container its engine took off its node and placed nowhere yet (engine/moved.py).
EVICTED = "evicted"
#: engine.replicas.LABEL_REPLICA (that module loads only where an app runs replicas).
LABEL_REPLICA = "rivetr.replica"
#: The extra replicas of running deployments, in plain SQL: the crash watcher's every round must not load the
#: replicas table's class (an idle server never does).
_RUNNING_REPLICAS = text(
    'SELECT r.deployment_id, r."index", r.container_id, r.upstream, r.restart_count FROM deployment_replicas r '
    "JOIN deployments d ON d.id = r.deployment_id WHERE d.status = 'running'"
)

if TYPE_CHECKING:
    from .service import DeploymentService

log = logging.getLogger("rivetr.engine.recovery")

#: A restarted container that stays up this long has recovered: its restart budget starts again.
STABLE_AFTER = 60.0


def _loopback_port(upstream: str | None) -> int:
    """The published port of a ``127.0.0.1:<port>`` upstream (a restart asks for it again so the route stays
    valid); 0 for a container's own network address, which a new container cannot keep anyway."""
    host, _, port = (upstream or "").rpartition(":")
    return int(port) if host == "127.0.0.1" and port.isdigit() else 0


#: Give this plane the deployments of planes whose lease ran out (``:lease`` seconds), in progress or running;
#: ``{unowned}`` adds those without a plane at start-up. PostgreSQL's row locks hand each row to one adopter.
_ADOPT = (
    "UPDATE deployments SET plane_id = :me WHERE status IN ({statuses}) AND ({unowned}"
    " plane_id NOT IN (" + LIVE_PLANES_SQL + ")) RETURNING id"
)
_ADOPTED_STATUSES = ", ".join(f"'{s}'" for s in (*ACTIVE_STATUSES, "running"))


async def adopt(svc: DeploymentService, *, at_start: bool) -> list[Deployment]:
    """PostgreSQL: make this plane the owner of the deployments of dead planes (at start-up, also of those
    without a plane) and return them. Their crash restarts are this plane's from now on."""
    assert svc.plane is not None
    sql = _ADOPT.format(statuses=_ADOPTED_STATUSES, unowned="plane_id IS NULL OR" if at_start else "")
    async with svc.db.engine.begin() as conn:
        ids = [
            r.id
            for r in (await conn.execute(text(sql), {"me": svc.plane.id, "lease": svc.plane.lease})).all()
        ]
    if not ids:
        return []
    async with svc.db.session() as session:
        return list((await session.exec(select(Deployment).where(col(Deployment.id).in_(ids)))).all())


async def fail_interrupted(svc: DeploymentService) -> list[str]:
    """Mark every deployment a previous process left half-way as failed, except one whose switch had committed
    (it serves: it is marked running). Returns the ids marked failed. With control planes (PostgreSQL), only the
    deployments of planes that are gone: a live plane's go on."""
    if svc.plane is not None:
        deps = [d for d in await adopt(svc, at_start=True) if d.status in ACTIVE_STATUSES]
    else:
        async with svc.db.session() as session:
            deps = list(
                (
                    await session.exec(select(Deployment).where(col(Deployment.status).in_(ACTIVE_STATUSES)))
                ).all()
            )
    return await _recover(svc, deps, "the server stopped")


async def take_over(svc: DeploymentService) -> list[str]:
    """A lease round (PostgreSQL): adopt the deployments of planes whose lease ran out; run here the queued ones
    their plane never claimed, mark the interrupted ones failed as a restart would, and remove what they left
    behind (containers of failed deployments, old ones that were draining). The same for their stack
    deployments and app task runs (engine/adoption.py). Returns the adopted app deployments' ids."""
    await _take_over_the_rest(svc)
    deps = await adopt(svc, at_start=False)
    if not deps:
        return []
    queued = [d for d in deps if _never_started(d)]
    log.warning(
        "took over %d deployment(s) of a control plane that stopped (%d queued, run here)",
        len(deps),
        len(queued),
    )
    await _recover(
        svc,
        [d for d in deps if d.status in ACTIVE_STATUSES and d not in queued],
        "the control plane running it stopped",
    )
    await run_adopted(svc, queued)
    svc.ctx.spawn(_remove_orphans_quietly(svc), "takeover-orphans")
    return [d.id for d in deps]


async def _take_over_the_rest(svc: DeploymentService) -> None:
    """The dead planes' stack deployments and task runs (engine/adoption.py); a failure there is logged and
    never keeps the app deployments' adoption from its round."""
    from .adoption import adopt_stack_deployments, interrupt_task_runs

    for step in (adopt_stack_deployments, interrupt_task_runs):
        try:
            await step(svc.ctx, at_start=False)
        except Exception:
            log.warning("taking over a stopped control plane's %s failed", step.__name__, exc_info=True)


def _never_started(dep: Deployment) -> bool:
    """Queued and never claimed: no pipeline of the dead plane touched it (engine/claims.py stamps
    ``started_at`` before a pipeline starts), so this plane can run it from the beginning."""
    return dep.status == "queued" and dep.started_at is None


async def run_adopted(svc: DeploymentService, deps: list[Deployment]) -> None:
    """Queue here the adopted deployments a dead plane had queued, oldest first, as if they had been requested
    here: the newest queued deployment of an app wins and supersedes the older ones, this plane's own waiting
    one included (and the other way round). The pipeline still starts only after the claim
    (``DeploymentService._run``), so a deployment runs once whoever else adopted it."""
    for dep in sorted(deps, key=lambda d: d.created_at):
        waiting = svc.queue.waiting(dep.app_id)
        if waiting:
            newest = await svc.get_deployment(waiting[-1])
            if newest.created_at > dep.created_at:
                await svc._dropped(dep.id, "superseded", by=newest.id)
                continue
        svc.logs.open(dep.id)
        svc.logs.append(dep.id, "taken over: the control plane that queued it stopped; queued here")
        superseded = svc.queue.submit(
            dep.id,
            dep.app_id,
            functools.partial(svc._run, dep.id),
            functools.partial(svc._dropped, dep.id),
        )
        for other in superseded:
            await svc._dropped(other, "superseded", by=dep.id)


async def _remove_orphans_quietly(svc: DeploymentService) -> None:
    try:
        await remove_orphans(svc)
    except RuntimeUnavailable as exc:
        log.warning("orphan check after a takeover skipped: %s", exc.message)


async def _recover(svc: DeploymentService, deps: list[Deployment], cause: str) -> list[str]:
    if not deps:
        return []
    async with svc.db.session() as session:
        current = set((await session.exec(select(App.current_deployment_id))).all())
    failed = []
    for dep in deps:
        if dep.status == "switching" and dep.id in current:
            # The switch had committed (routes and the app's current deployment move in one transaction):
            # this version is what serves, only its own status write was lost.
            note = "recovered: the server stopped right after the switch; this version is serving"
            svc.logs.append(dep.id, note)
            await svc.update_deployment(dep.id, status="running", finished_at=utcnow())
            await svc.logs.close(dep.id)
            continue
        failed.append(dep.id)
        error = f"interrupted: {cause} while the deployment was {dep.status}"
        svc.logs.append(dep.id, error)
        await svc.update_deployment(
            dep.id, status="failed", error=error, finished_at=utcnow(), log_tail=[error]
        )
        await svc.logs.close(dep.id)
        await svc.after_failure(dep.app_id)
    if failed:
        log.warning("marked %d interrupted deployment(s) failed", len(failed))
    return failed


async def remove_orphans(svc: DeploymentService) -> list[str]:
    """Remove this instance's containers no deployment tracks; returns their ids."""
    runtime = await svc.ctx.runtime()
    containers = await runtime.list(labels={LABEL_MANAGED: "true", LABEL_INSTANCE: svc.instance_id})
    ids = {c.labels.get(LABEL_DEPLOYMENT) for c in containers} - {None}
    async with svc.db.session() as session:
        deps = (
            {
                d.id: d
                for d in (await session.exec(select(Deployment).where(col(Deployment.id).in_(ids)))).all()
            }
            if ids
            else {}
        )
    replica_ids: set[str] = set()
    if any(LABEL_REPLICA in c.labels for c in containers):  # an app runs replicas (engine.replicas)
        from .replicas import extra_rows

        for dep in deps.values():
            if dep.status == "running":
                replica_ids.update(r["container_id"] for r in await extra_rows(svc.db, dep.id))
    # Another live plane's deployments (PostgreSQL) are its own business: their containers come and go with
    # its pipelines, and its replaced ones may still be draining.
    others = await svc.plane.others_alive() if svc.plane is not None else set()
    removed = []
    for info in containers:
        dep = deps.get(info.labels.get(LABEL_DEPLOYMENT, ""))
        if dep is not None and dep.plane_id is not None and dep.plane_id in others:
            continue
        if dep is not None and (
            dep.status in ACTIVE_STATUSES
            or (dep.status == "running" and (dep.container_id == info.id or info.id in replica_ids))
        ):
            continue
        log.info("removing orphan container %s (%s)", info.name, info.id[:12])
        await svc.remove_container(runtime, info.id)
        removed.append(info.id)
    return removed


async def remove_failed_images(svc: DeploymentService) -> list[str]:
    """Remove images of deployments that never went live (a shutdown skips that clean-up to stop fast)."""
    async with svc.db.session() as session:
        deps = (
            await session.exec(
                select(Deployment).where(
                    col(Deployment.status).in_(("failed", "cancelled", "superseded")),
                    col(Deployment.image).is_not(None),
                    col(Deployment.image_removed).is_(False),
                    col(Deployment.rollback_of).is_(None),  # a rollback's image belongs to its source
                )
            )
        ).all()
    if not deps:
        return []
    runtime = await svc.ctx.runtime()
    removed = []
    for dep in deps:
        try:
            await runtime.remove_image(dep.image or "", force=True)
        except Exception as exc:
            log.debug("image %s of deployment %s not removed: %s", dep.image, dep.id, exc)
        await svc.update_deployment(dep.id, image_removed=True)
        removed.append(dep.image or "")
    return removed


async def clean_build_dirs(svc: DeploymentService) -> None:
    builds = svc.ctx.config.server.data_dir.resolve() / "builds"
    if not builds.is_dir():
        return
    active = set(svc.queue._running) | {d for w in svc.queue._waiting.values() for d in w}
    for path in builds.iterdir():
        if path.name not in active:
            await asyncio.to_thread(shutil.rmtree, path, True)


async def resume_deletions(svc: DeploymentService) -> list[str]:
    """Finish deleting the apps a stop or a failure (engine gone mid-way) left in ``deleting``: ``delete_app``
    is idempotent, so running it again removes whatever is left. Returns the ids of apps now deleted.

    The named volumes whose rows are still there go too: a deletion with ``keep_volumes`` dropped its rows
    before it began (``AppService.delete``), so rows left mean the user chose to delete the data."""
    volumes = svc.ctx.services.get("volumes")
    async with svc.db.session() as session:
        app_ids = (await session.exec(select(App.id).where(App.status == "deleting"))).all()
    deleted = []
    for app_id in app_ids:
        try:
            names = [v.name for v in await volumes.for_app(app_id) if v.kind == "volume"] if volumes else []
            await svc.delete_app(app_id)
        except Exception as exc:
            log.warning("could not finish deleting app %s (retried at the next start): %s", app_id, exc)
        else:
            deleted.append(app_id)
            if names and volumes is not None:
                await volumes.remove_engine_volumes(app_id, names)
    return deleted


async def background_recovery(svc: DeploymentService) -> None:
    # With another live plane, the build dirs may be its builds' (one data dir on one host) and an app in
    # ``deleting`` may be one it is deleting right now: only a plane that starts alone resumes them.
    if svc.plane is None or not await svc.plane.others_alive():
        await clean_build_dirs(svc)
        finished = await resume_deletions(svc)
        if finished:
            log.warning("finished deleting %d app(s) an earlier stop interrupted", len(finished))
    try:
        removed = await remove_orphans(svc)
        await remove_failed_images(svc)
    except RuntimeUnavailable as exc:
        log.warning("orphan check skipped: %s", exc.message)
        return
    if removed:
        log.warning("removed %d orphan container(s)", len(removed))


class CrashWatcher:
    def __init__(self, svc: DeploymentService) -> None:
        self.svc = svc
        self.cfg = svc.ctx.config.runtime
        self._busy: set[str] = set()  # deployments being restarted
        self._given_up: set[str] = set()
        self._restarted_at: dict[str, float] = {}  # deployment id → monotonic time of its last restart

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.crash_check_interval)
            try:
                await self.check_once()
            except RuntimeUnavailable as exc:
                log.debug("crash check skipped: %s", exc.message)
            except Exception:
                log.warning("crash check failed", exc_info=True)

    async def check_once(self) -> list[str]:
        """Start a restart for every running deployment whose container is not running; returns their ids.
        With control planes (PostgreSQL), only this plane's: each crash is restarted by one plane."""
        query = (
            select(Deployment)
            .join(App, col(App.current_deployment_id) == col(Deployment.id))
            .where(Deployment.status == "running", App.status == "running")
        )
        if self.svc.plane is not None:
            query = query.where(Deployment.plane_id == self.svc.plane.id)
        async with self.svc.db.session() as session:
            deps = (await session.exec(query)).all()
        deps = [d for d in deps if d.id not in self._busy and d.id not in self._given_up]
        if not deps:
            return []
        runtime = await self.svc.ctx.runtime()
        containers = {c.id: c for c in await runtime.list(labels={LABEL_INSTANCE: self.svc.instance_id})}
        moved: set[str] = set()
        crashed = await self._check_replicas(deps, containers, moved)
        for dep in deps:
            info = containers.get(dep.container_id or "")
            if info is not None and info.running:
                await self._maybe_reset(dep)
                if info.upstream and info.upstream != dep.upstream:
                    moved.add(dep.id)  # the engine moved it (a swarm task rescheduled): routes follow
                continue
            if info is not None and info.status == EVICTED:
                self._move(dep, info.id, dep.id)
                continue
            if self.svc.switch_lock(dep.app_id).locked():
                continue  # a deployment of this app is switching right now: look again next round
            self._busy.add(dep.id)
            crashed.append(dep.id)
            self.svc.ctx.spawn(self._restart(dep, info), f"restart-{dep.id}")
        for dep in deps:
            if dep.id in moved and dep.id not in crashed and not self.svc.switch_lock(dep.app_id).locked():
                from .moved import follow

                await follow(self.svc, dep.id, dep.app_id)
        return crashed

    def _move(self, dep: Deployment, container_id: str, key: str) -> None:
        """Start again, elsewhere, a container its engine took off its node (status ``evicted``: a swarm task on
        a node drained outside Rivetr, or down): a move, so no crash event and no restart of the budget."""
        if key in self._busy or self.svc.switch_lock(dep.app_id).locked():
            return  # being moved already, or the app is switching: look again next round
        from .moved import start_evicted

        self._busy.add(key)

        async def move() -> None:
            try:
                await start_evicted(self.svc, dep.id, dep.app_id, container_id)
            finally:
                self._busy.discard(key)

        self.svc.ctx.spawn(move(), f"move-{key}")

    async def _restart(self, dep: Deployment, info: ContainerInfo | None) -> None:
        svc = self.svc
        try:
            snap = await svc.snapshot(dep.app_id)
            attempt = dep.restart_count + 1
            exit_code = info.exit_code if info else None
            what = f"exited with code {exit_code}" if info else "disappeared"
            svc.emit(
                "container_crashed",
                dep,
                snap.app.name,
                f"{snap.app.name}: container {what}",
                level="failure",
                data={"exit_code": exit_code, "restart_count": dep.restart_count},
            )
            if attempt > self.cfg.restart_max_retries:
                self._given_up.add(dep.id)
                await self._mark_crashed(dep.app_id)
                svc.emit(
                    "container_crashed",
                    dep,
                    snap.app.name,
                    f"{snap.app.name}: gave up after {dep.restart_count} restarts; app marked crashed",
                    level="failure",
                    data={"exit_code": exit_code, "gave_up": True},
                )
                return
            await asyncio.sleep(self.cfg.restart_backoff_seconds * 2 ** (attempt - 1))
            async with svc.switch_lock(dep.app_id):
                # Deleting (or stopped, crashed) meanwhile: delete_app marks the app under this same lock
                # before it removes anything, so a restart never outlives the app's containers and routes.
                async with svc.db.session() as session:
                    app = await session.get(App, dep.app_id)
                if app is None or app.status != "running":
                    return
                current = await svc.get_deployment(dep.id)
                if (
                    current.status != "running"
                    or current.container_id != dep.container_id
                    or not current.image
                ):
                    return  # a newer deployment took over meanwhile
                runtime = await svc.ctx.runtime()
                if dep.container_id:
                    await svc.remove_container(runtime, dep.container_id)
                old_port = _loopback_port(dep.upstream)
                spec = run_spec(svc, snap, current, current.image, restart=attempt, host_port=old_port)
                try:
                    new = await runtime.run(spec)
                except Exception:
                    if not old_port:
                        raise
                    spec.host_port = 0  # the old port was taken meanwhile: any port, then re-route
                    new = await runtime.run(spec)
                upstream = new.upstream
                if not upstream:
                    raise RuntimeError(f"the runtime reports no address for restarted container {new.id}")
                await svc.update_deployment(
                    dep.id,
                    container_id=new.id,
                    container_name=spec.name,
                    upstream=upstream,
                    restart_count=attempt,
                )
                if upstream != dep.upstream:
                    routes = svc.ctx.services["routes"]
                    extras = await self._replica_upstreams(dep.id)
                    for domain in snap.domains:
                        await routes.set(
                            domain,
                            [upstream, *extras],
                            app_id=dep.app_id,
                            https_redirect=app.https_redirect,
                            hsts=app.hsts,
                        )
            self._restarted_at[dep.id] = time.monotonic()
            svc.emit(
                "container_restarted",
                dep,
                snap.app.name,
                f"{snap.app.name}: container restarted (attempt {attempt})",
                level="warning",
                data={"restart_count": attempt},
            )
        except Exception:
            log.exception("restarting the container of deployment %s failed", dep.id)
            async with svc.db.session() as session:
                row = await session.get(Deployment, dep.id)
                if row is not None:
                    row.restart_count += 1
                    session.add(row)
                    await session.commit()
        finally:
            self._busy.discard(dep.id)

    async def _replica_upstreams(self, deployment_id: str) -> list[str]:
        async with self.svc.db.session() as session:
            rows = [dict(r._mapping) for r in (await session.exec(_RUNNING_REPLICAS)).all()]  # type: ignore[call-overload]
        mine = sorted((r for r in rows if r["deployment_id"] == deployment_id), key=lambda r: r["index"])
        return [r["upstream"] for r in mine if r["upstream"]]

    async def _check_replicas(
        self, deps: list[Deployment], containers: dict[str, ContainerInfo], moved: set[str]
    ) -> list[str]:
        """Start a restart for every extra replica (rivetr_core.engine.replicas) of the running deployments
        whose container stopped or vanished; returns ``<deployment id>/<index>`` of each. Adds to ``moved`` the
        deployments with a running replica whose upstream is not the recorded one."""
        async with self.svc.db.session() as session:
            rows = [dict(r._mapping) for r in (await session.exec(_RUNNING_REPLICAS)).all()]  # type: ignore[call-overload]
        if not rows:
            return []
        by_id = {d.id: d for d in deps}
        crashed = []
        for row in rows:
            dep = by_id.get(row["deployment_id"])
            key = f"{row['deployment_id']}/{row['index']}"
            if dep is None or key in self._busy or key in self._given_up:
                continue
            info = containers.get(row["container_id"] or "")
            if info is not None and info.running:
                if info.upstream and info.upstream != row["upstream"]:
                    moved.add(dep.id)
                continue
            if info is not None and info.status == EVICTED:
                self._move(dep, info.id, key)
                continue
            if self.svc.switch_lock(dep.app_id).locked():
                continue
            self._busy.add(key)
            crashed.append(key)
            self.svc.ctx.spawn(self._restart_replica(dep, row["index"], key, info), f"restart-{key}")
        return crashed

    async def _restart_replica(
        self, dep: Deployment, index: int, key: str, info: ContainerInfo | None
    ) -> None:
        """Like :meth:`_restart` for replica ``index`` ≥ 1: same image, env and limits, its old loopback port
        when free; once its budget is spent it leaves the routes (the other replicas serve on)."""
        from .replicas import extra_rows, record, start_replica

        svc = self.svc
        try:
            row = next((r for r in await extra_rows(svc.db, dep.id) if r["index"] == index), None)
            if row is None:
                return
            snap = await svc.snapshot(dep.app_id)
            attempt = row["restart_count"] + 1
            what = f"exited with code {info.exit_code}" if info else "disappeared"
            svc.emit(
                "container_crashed",
                dep,
                snap.app.name,
                f"{snap.app.name}: replica {index} {what}",
                level="failure",
                data={"replica": index, "restart_count": row["restart_count"]},
            )
            if attempt > self.cfg.restart_max_retries:
                self._given_up.add(key)
                svc.emit(
                    "container_crashed",
                    dep,
                    snap.app.name,
                    f"{snap.app.name}: gave up on replica {index} after {row['restart_count']} restarts",
                    level="failure",
                    data={"replica": index, "gave_up": True},
                )
                return
            await asyncio.sleep(self.cfg.restart_backoff_seconds * 2 ** (attempt - 1))
            async with svc.switch_lock(dep.app_id):
                async with svc.db.session() as session:
                    app = await session.get(App, dep.app_id)
                current = await svc.get_deployment(dep.id)
                now = next((r for r in await extra_rows(svc.db, dep.id) if r["index"] == index), None)
                if (
                    app is None
                    or app.status != "running"
                    or current.status != "running"
                    or not current.image
                    or now is None
                    or now["container_id"] != row["container_id"]
                ):
                    return  # stopped, deleted, scaled down or replaced meanwhile
                runtime = await svc.ctx.runtime()
                if row["container_id"]:
                    await svc.remove_container(runtime, row["container_id"])
                try:
                    new = await start_replica(
                        svc,
                        snap,
                        current,
                        current.image,
                        index,
                        runtime,
                        note=lambda line: None,
                        host_port=_loopback_port(row["upstream"]),
                        restart=attempt,
                    )
                except Exception:
                    # Recorded as crashed again: the next round retries within the budget.
                    await record(
                        svc.db,
                        dep.id,
                        index,
                        "",
                        row["container_name"] or "",
                        row["upstream"] or "",
                        restart_count=attempt,
                    )
                    raise
                if new.upstream != row["upstream"]:
                    from .replicas import route_to, upstreams_of

                    await route_to(svc, app, await upstreams_of(svc.db, current))
            svc.emit(
                "container_restarted",
                dep,
                snap.app.name,
                f"{snap.app.name}: replica {index} restarted (attempt {attempt})",
                level="warning",
                data={"replica": index, "restart_count": attempt},
            )
        except Exception:
            log.exception("restarting replica %d of deployment %s failed", index, dep.id)
        finally:
            self._busy.discard(key)

    async def _maybe_reset(self, dep: Deployment) -> None:
        restarted = self._restarted_at.get(dep.id)
        if dep.restart_count and restarted is not None and time.monotonic() - restarted > STABLE_AFTER:
            self._restarted_at.pop(dep.id, None)
            await self.svc.update_deployment(dep.id, restart_count=0)
            log.info("deployment %s stayed up after its restart: restart budget reset", dep.id)

    async def _mark_crashed(self, app_id: str) -> None:
        async with self.svc.db.session() as session:
            app = await session.get(App, app_id)
            if app is not None:
                app.status, app.updated_at = "crashed", utcnow()
                session.add(app)
                await session.commit()
