"""Replicas of an app on one server (issue 23): N containers of one deployment behind the proxy.

Replica 0 is the deployment's own container (``Deployment.container_id/container_name/upstream``), so every path
that knows one container keeps working unchanged and ``replicas = 1`` (the default) behaves exactly as before.
Replicas 1..N-1 are rows of ``deployment_replicas`` (:class:`~rivetr_core.models.replicas.DeploymentReplica`),
named ``<replica 0's name>-<index>`` and labelled ``rivetr.replica=<index>`` besides the app's usual labels.

* A deployment starts all N, health-gates each, switches the routes to the N upstreams at once (the proxy
  balances and health-checks each) and drains and stops the old deployment's containers, all of them.
* :func:`scale` changes the count of the running deployment without a rebuild: it starts the missing replicas
  from the deployment's image, health-gates each and adds them to the routes, or takes the extra ones out of
  the routes, drains and stops them.

This module is imported on first use (a deployment, a scale, a crash restart of a replica): an idle control
plane never loads it or its table. Reads that run often (the crash watcher, route syncs) use plain SQL on the
table instead (:func:`extra_rows`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from rivetr_core.contract import ContainerRuntime
from rivetr_core.contract.errors import Conflict, NotFound, ValidationFailed
from rivetr_core.db import utcnow

if TYPE_CHECKING:
    from rivetr_core.models.apps import App, Deployment
    from rivetr_core.models.replicas import DeploymentReplica

    from .pipeline import AppSnapshot
    from .service import DeploymentService

log = logging.getLogger("rivetr.engine.replicas")

LABEL_REPLICA = "rivetr.replica"
#: The range of ``App.replicas`` the API accepts (one server: more is a swarm's job).
MIN_REPLICAS, MAX_REPLICAS = 1, 20

_EXTRAS = text(
    'SELECT "index", container_id, container_name, upstream, restart_count FROM deployment_replicas '
    'WHERE deployment_id = :dep ORDER BY "index"'
)


async def extra_rows(db: Any, deployment_id: str) -> list[dict[str, Any]]:
    """Replicas 1..N-1 of a deployment as plain dicts (``index``, ``container_id``, ``container_name``,
    ``upstream``, ``restart_count``): plain SQL, so callers on common paths never load the table class."""
    async with db.session() as session:
        result = await session.exec(_EXTRAS, params={"dep": deployment_id})  # type: ignore[call-overload]
        return [dict(row._mapping) for row in result.all()]


async def upstreams_of(db: Any, dep: Deployment) -> list[str]:
    """Every upstream the deployment serves on: replica 0's, then the extra replicas' in index order."""
    first = [dep.upstream] if dep.upstream else []
    return first + [r["upstream"] for r in await extra_rows(db, dep.id) if r["upstream"]]


async def containers_of(db: Any, dep: Deployment) -> list[tuple[str, str | None]]:
    """``(container id, upstream)`` of every replica of the deployment that has a container."""
    first = [(dep.container_id, dep.upstream)] if dep.container_id else []
    return first + [
        (r["container_id"], r["upstream"]) for r in await extra_rows(db, dep.id) if r["container_id"]
    ]


def check_count(value: Any, field: str = "replicas") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_REPLICAS <= value <= MAX_REPLICAS:
        raise ValidationFailed.on(field, f"must be an integer from {MIN_REPLICAS} to {MAX_REPLICAS}")
    return value


async def drain_and_remove(
    service: Any,
    runtime: ContainerRuntime,
    containers: Iterable[tuple[str, str | None]],
    *,
    drain: bool = True,
    note: Callable[[str], None] | None = None,
) -> int:
    """Wait until the proxy has no request in flight on the containers' upstreams (bounded by ``[proxy]
    drain_timeout``), then stop and remove them, all concurrently. Shared by an app deployment's drain, a
    scale-down and a compose stack's retirement of its old containers (``service`` is either one's service:
    both have ``ctx`` and ``remove_container``). Returns how many containers it removed."""
    containers = [(cid, up) for cid, up in containers if cid]
    proxy = service.ctx.proxy
    upstreams = [up for _, up in containers if up]
    if drain and proxy is not None and upstreams:
        timeout = service.ctx.config.proxy.drain_timeout
        drained = await asyncio.gather(*(proxy.wait_drained(up, timeout) for up in upstreams))
        for up, ok in zip(upstreams, drained, strict=True):
            if not ok and note is not None:
                note(f"old upstream {up} still busy after the drain timeout; stopping it")
    await asyncio.gather(*(service.remove_container(runtime, cid) for cid, _ in containers))
    return len(containers)


async def start_replica(
    service: DeploymentService,
    snap: AppSnapshot,
    dep: Deployment,
    image: str,
    index: int,
    runtime: ContainerRuntime,
    *,
    note: Callable[[str], None],
    started: list[str] | None = None,
    host_port: int = 0,
    restart: int = 0,
) -> DeploymentReplica:
    """Start replica ``index`` (≥ 1) of ``dep`` from ``image``, record it, and wait for its health check as a
    deployment does; a replica that never becomes healthy is removed and :class:`PipelineError` raised. The
    container id goes into ``started`` as soon as the engine answers (a caller's clean-up list)."""
    from .pipeline import PipelineError, run_spec, wait_healthy

    spec = run_spec(service, snap, dep, image, restart=restart, host_port=host_port, replica=index)
    info = await runtime.run(spec)
    if started is not None:
        started.append(info.id)
    try:
        upstream = info.upstream
        if not upstream:
            info = await runtime.inspect(info.id)
            raise PipelineError(
                f"replica {index}: the runtime reports no address for its container"
                + ("" if info.running else f" (it exited with code {info.exit_code})")
            )
        note(f"started replica {index}: container {spec.name} ({info.id[:12]}) on {upstream}")
        row = await record(service.db, dep.id, index, info.id, spec.name, upstream, restart_count=restart)
        await wait_healthy(
            service,
            snap.app,
            snap.domains,
            runtime,
            info.id,
            upstream,
            note=lambda line: note(f"[replica {index}] {line}"),
            deployment_id=dep.id,
        )
    except BaseException:
        with contextlib.suppress(Exception):
            await asyncio.shield(service.remove_container(runtime, info.id))
        with contextlib.suppress(Exception):
            await asyncio.shield(forget(service.db, dep.id, [index]))
        raise
    return row


async def record(
    db: Any,
    deployment_id: str,
    index: int,
    container_id: str,
    name: str,
    upstream: str,
    *,
    restart_count: int = 0,
) -> DeploymentReplica:
    from rivetr_core.models.replicas import DeploymentReplica

    async with db.session() as session:
        row = await session.get(DeploymentReplica, (deployment_id, index))
        if row is None:
            row = DeploymentReplica(deployment_id=deployment_id, index=index)
        row.container_id, row.container_name, row.upstream = container_id, name, upstream
        row.restart_count = restart_count
        session.add(row)
        await session.commit()
    return row


async def forget(db: Any, deployment_id: str, indexes: Iterable[int]) -> None:
    from rivetr_core.models.replicas import DeploymentReplica

    async with db.session() as session:
        for index in indexes:
            row = await session.get(DeploymentReplica, (deployment_id, index))
            if row is not None:
                await session.delete(row)
        await session.commit()


async def route_to(service: DeploymentService, app: App, upstreams: list[str]) -> None:
    """Point every domain of the app at ``upstreams`` at once (one route change per domain)."""
    from .service import route_flags

    routes = service.ctx.services.routes
    for domain in await service.app_domains(app.id):
        await routes.set(domain, upstreams, app_id=app.id, **route_flags(app))


# ------------------------------------------------------------------------------------------------- scale
async def scale(ctx: Any, app_id: str, replicas: int) -> dict[str, Any]:
    """Set the app's replica count and apply it to the running deployment without a rebuild.

    Scaling up starts the missing replicas from the deployment's image (concurrently), health-gates each and
    then adds them all to the routes; one that fails its health check fails the scale (409
    ``health_check_failed``) and the started ones are removed: the app keeps serving as before and its count is
    unchanged. Scaling down first takes the extra replicas out of the routes, then drains and stops them.
    A stopped, failed or never deployed app only records the count (its next start or deployment uses it).
    409 ``deployment_in_progress`` while a deployment of the app is queued or running (its switch would race);
    409 ``managed_by_file`` when the app's repository file sets ``replicas`` (its next deployment would undo
    the scale), whoever asks: the file's own count is applied by its deployment, never through here.
    Returns ``{"replicas": N, "previous": M, "started": [...], "stopped": [...]}`` (replica indexes)."""
    from rivetr_core.iac.managed import refuse_managed_fields
    from rivetr_core.models.apps import App
    from rivetr_core.services.app_lifecycle import AppLifecycle

    from .pipeline import PipelineError

    await refuse_managed_fields(ctx.db, app_id, ["replicas"])
    check_count(replicas)
    svc: DeploymentService = ctx.services.deployments
    lifecycle = AppLifecycle(ctx)
    started_ids: list[str] = []
    async with svc.switch_lock(app_id):
        app, dep = await lifecycle._current(app_id)
        if app.status == "deleting":
            raise Conflict(f"app {app.name!r} is being deleted", code="app_deleting")
        extras = await extra_rows(ctx.db, dep.id) if dep is not None else []
        previous = 1 + len(extras) if dep is not None else app.replicas
        outcome: dict[str, Any] = {"replicas": replicas, "previous": previous, "started": [], "stopped": []}
        serving = dep is not None and app.status == "running"
        if serving and dep is not None and replicas > previous:
            runtime = await ctx.runtime()
            if not dep.image:
                raise Conflict("the running deployment has no image to start replicas from", code="no_image")
            snap = await svc.snapshot(app_id)
            notes: list[str] = []
            taken = {r["index"] for r in extras}
            indexes = [i for i in range(1, MAX_REPLICAS) if i not in taken][: replicas - previous]
            results = await asyncio.gather(
                *(
                    start_replica(
                        svc, snap, dep, dep.image, i, runtime, note=notes.append, started=started_ids
                    )
                    for i in indexes
                ),
                return_exceptions=True,
            )
            failed = [r for r in results if isinstance(r, BaseException)]
            if failed:
                # start_replica removed the failed one; the healthy ones never took traffic: remove them too.
                await asyncio.gather(*(svc.remove_container(runtime, cid) for cid in started_ids))
                await forget(ctx.db, dep.id, indexes)
                first = failed[0]
                if not isinstance(first, PipelineError | Exception):
                    raise first
                raise Conflict(
                    f"app {app.name!r} could not scale to {replicas}: {first}",
                    code="health_check_failed" if isinstance(first, PipelineError) else "scale_failed",
                    details={"log": notes[-10:]},
                ) from None
            await route_to(svc, app, await upstreams_of(ctx.db, dep))
            outcome["started"] = indexes
        elif dep is not None and replicas < previous:
            runtime = await ctx.runtime()
            doomed = extras[replicas - 1 :]  # the highest indexes go; replica 0 always stays
            keep = [dep.upstream, *(r["upstream"] for r in extras[: replicas - 1])]
            if serving:
                await route_to(svc, app, [u for u in keep if u])
            await forget(ctx.db, dep.id, [r["index"] for r in doomed])
            doomed_containers = [(r["container_id"], r["upstream"]) for r in doomed]
            await drain_and_remove(svc, runtime, doomed_containers, drain=serving)
            outcome["stopped"] = [r["index"] for r in doomed]
        async with ctx.db.session() as session:
            row = await session.get(App, app_id)
            if row is None:
                raise NotFound.of("app", app_id)
            # The rollout settings stay as set: a plan takes values above the count as the count.
            row.replicas, row.updated_at = replicas, utcnow()
            session.add(row)
            await session.commit()
    return outcome


async def replica_states(ctx: Any, app_id: str, *, stats: bool = False) -> list[dict[str, Any]]:
    """Each replica of the app's current deployment: index, container name and id, upstream and the engine's
    state (``running``, ``exited``..., ``missing``; ``unknown`` without an engine). ``stats``: also its
    ``cpu_percent``, ``memory_used`` and ``memory_limit`` (bytes) from one ``stats_many`` call, None where the
    engine has none (a stopped container); dockerd takes about a second for it, hence opt-in."""
    from rivetr_core.models.apps import App, Deployment

    async with ctx.db.session() as session:
        app = await session.get(App, app_id)
        if app is None:
            raise NotFound.of("app", app_id)
        dep = await session.get(Deployment, app.current_deployment_id) if app.current_deployment_id else None
    if dep is None or not dep.container_id:
        return []
    rows = [
        {
            "index": 0,
            "container_id": dep.container_id,
            "container_name": dep.container_name,
            "upstream": dep.upstream,
            "restart_count": dep.restart_count,
        },
        *await extra_rows(ctx.db, dep.id),
    ]
    runtime = ctx.runtime_if_ready()
    states: dict[str, str] = {}
    samples: dict[str, Any] = {}

    async def usage(runtime: ContainerRuntime, ids: list[str]) -> None:
        try:
            samples.update(await runtime.stats_many(ids))
        except Exception:  # stats are a nicety: the states still answer
            log.debug("stats of the replicas of %s failed", app_id, exc_info=True)

    if runtime is not None:
        from rivetr_core.contract import ContainerNotFound

        async def state(cid: str) -> None:
            try:
                info = await runtime.inspect(cid)
                states[cid] = info.status or ("running" if info.running else "exited")
            except ContainerNotFound:
                states[cid] = "missing"
            except Exception:
                states[cid] = "unknown"

        ids = [r["container_id"] for r in rows if r["container_id"]]
        await asyncio.gather(*(state(cid) for cid in ids), usage(runtime, ids) if stats else asyncio.sleep(0))
    for r in rows:
        r["state"] = states.get(r["container_id"] or "", "unknown")
        if stats:
            sample = samples.get(r["container_id"] or "")
            r["cpu_percent"] = round(sample.cpu_percent, 2) if sample is not None else None
            r["memory_used"] = sample.memory_used if sample is not None else None
            r["memory_limit"] = sample.memory_limit if sample is not None else None
    return rows
