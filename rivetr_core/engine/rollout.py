"""Rolling update of a replicated app (issue 23): the new deployment replaces the serving one ``max_surge``
replicas at a time, keeping at least ``replicas - max_unavailable`` serving (steps: :mod:`.rollout_plan`).

Used by :class:`~.pipeline.Pipeline` instead of its start-all-then-switch path when the app runs, or is to run,
more than one replica and a previous deployment serves. Each start step starts new replicas (replica 0 is the
deployment's own container, started by the pipeline as always), health-gates each and adds them to the routes
next to the old ones; each stop step takes old replicas (highest index first) out of the routes, drains and
stops them. When all N new replicas serve, the deployment switches (routes to the new replicas only and the
app's current deployment, in one transaction as usual) and the old replicas left are drained and stopped.

The app's switch lock is held throughout, as a scale does: the crash watcher must not restart the old replicas
this stops, and a scale must not change the count under the rollout. A new replica failing its health check
stops the rollout: the routes go back to the old replicas still running, the ones this stopped are started
again from the old deployment's image, and the deployment fails (the pipeline removes the new containers).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rivetr_core.db import utcnow

from .replicas import drain_and_remove, extra_rows, forget, route_to, start_replica
from .rollout_plan import describe, next_step, plan

if TYPE_CHECKING:
    from rivetr_core.contract import ContainerRuntime
    from rivetr_core.models.apps import Deployment

    from .pipeline import Pipeline


@dataclass
class Replica:
    index: int
    container_id: str
    upstream: str | None


async def serving_to_roll(pipeline: Pipeline) -> Deployment | None:
    """The running deployment a rolling update replaces, or None for the pipeline's usual start, switch and
    drain: nothing serves, ``deploy_strategy = "recreate"``, or one container replaces one (the same thing as
    a rollout with max_surge 1, which the default settings are)."""
    app = pipeline.snap.app
    if app.deploy_strategy == "recreate":
        return None
    current_app, old = await pipeline.service.app_and_current(app.id)
    if current_app is None or old is None or old.status != "running" or not old.container_id:
        return None
    if app.replicas > 1 or app.max_unavailable > 0 or await extra_rows(pipeline.service.db, old.id):
        return old
    return None


async def old_replicas(pipeline: Pipeline, old: Deployment) -> list[Replica]:
    """The serving deployment's replicas, in index order."""
    first = [Replica(0, old.container_id or "", old.upstream)]
    extras = await extra_rows(pipeline.service.db, old.id)
    return first + [
        Replica(r["index"], r["container_id"], r["upstream"]) for r in extras if r["container_id"]
    ]


async def run(
    pipeline: Pipeline, runtime: ContainerRuntime, image: str, old: Deployment
) -> Deployment | None:
    """Roll ``old`` over to the pipeline's deployment; returns the deployment it replaced (already drained and
    stopped). Raises (a :class:`PipelineError` naming the replica) when a new replica fails, after restoring
    the old replicas' routes and count."""
    p, svc = pipeline, pipeline.service
    app = p.snap.app
    total = app.replicas
    surge, unavailable = app.max_surge, app.max_unavailable
    async with svc.switch_lock(app.id):
        serving_old = await old_replicas(p, old)
        steps = plan(total, len(serving_old), surge, unavailable)
        p.log(
            f"rolling update of {len(serving_old)} → {total} replica(s), max_surge {surge}, "
            f"max_unavailable {unavailable}: {describe(steps)}"
        )
        new: list[Replica] = []
        stopped: list[Replica] = []
        try:
            while True:
                step = next_step(total, len(serving_old), len(new), surge, unavailable)
                if step is None or (step.action == "stop" and len(new) == total):
                    break  # the last step: the switch below, then the old ones left go
                if step.action == "start":
                    new += await _start(p, runtime, image, range(len(new), len(new) + step.count))
                    await _route(p, serving_old, new)
                    p.log(
                        f"rollout: {len(new)} of {total} new replica(s) serving next to {len(serving_old)} old"
                    )
                else:
                    doomed, serving_old = serving_old[-step.count :], serving_old[: -step.count]
                    stopped += doomed  # before the drain: a failure from here on restarts them
                    await _route(p, serving_old, new)
                    await _stop(p, runtime, old, doomed)
                    p.log(
                        f"rollout: stopped old replica(s) {', '.join(str(r.index) for r in doomed)}; "
                        f"{len(serving_old)} old and {len(new)} new serving"
                    )
            await p.status("switching")
            switch = asyncio.ensure_future(_switch(p, new))
            p.switch_task = switch  # a cancel now waits for it (Pipeline.run): routes never half-moved
            await asyncio.shield(switch)
        except BaseException:
            if p.switch_task is not None and not p.switch_task.done():
                # Cancelled mid-switch: let it commit (or fail) first, then decide what to put back.
                with contextlib.suppress(BaseException):
                    await asyncio.shield(p.switch_task)
            if not p.switched:  # once switched, the new version serves: nothing to put back
                with contextlib.suppress(Exception):
                    await asyncio.shield(_restore(p, runtime, old, serving_old, stopped))
            raise
    p.log(
        f"switched {', '.join(p.snap.domains) or '(no domains)'} to {', '.join(r.upstream or '' for r in new)}"
    )
    await p.status("running", finished_at=utcnow())
    svc.emit(
        "deployment_succeeded",
        p.deployment,
        app.name,
        f"{app.name} is live ({(p.deployment.commit_sha or '')[:12]})",
        level="success",
    )
    async with p.step("drain"):
        if serving_old:
            await _stop(p, runtime, old, serving_old)
            p.log(f"rollout: drained and stopped the last {len(serving_old)} old replica(s)")
    return old


async def _start(pipeline: Pipeline, runtime: ContainerRuntime, image: str, indexes: range) -> list[Replica]:
    """Start and health-gate the new replicas ``indexes`` together (replica 0, the pipeline's own container,
    first: its start and health steps, as without replicas); the first failure raises, naming the replica."""
    from .pipeline import PipelineError, _describe

    p = pipeline
    p.log(f"rollout: starting new replica(s) {', '.join(str(i) for i in indexes)}")

    async def first() -> Replica:
        async with p.step("start"):
            upstream = await p._start(runtime, image)
        await p.status("health_checking", container_id=p.container_id, upstream=upstream)
        async with p.step("health"):
            await p._health(runtime, upstream)
        return Replica(0, p.container_id or "", upstream)

    async def extra(index: int) -> Replica:
        row = await start_replica(
            p.service, p.snap, p.deployment, image, index, runtime, note=p.log, started=p.replica_ids
        )
        return Replica(index, row.container_id or "", row.upstream)

    # Replica 0 first, as without a rollout: a deployment whose own container fails says so plainly.
    started = [await first()] if 0 in indexes else []
    extras = [i for i in indexes if i]
    results = await asyncio.gather(*(extra(i) for i in extras), return_exceptions=True)
    for index, result in zip(extras, results, strict=True):
        if isinstance(result, BaseException):
            if isinstance(result, Exception):
                raise PipelineError(f"replica {index}: {_describe(result)}") from result
            raise result
    return started + [r for r in results if isinstance(r, Replica)]


async def _route(pipeline: Pipeline, old: list[Replica], new: list[Replica]) -> None:
    upstreams = [r.upstream for r in (*old, *new) if r.upstream]
    await route_to(pipeline.service, pipeline.snap.app, upstreams)


async def _stop(
    pipeline: Pipeline, runtime: ContainerRuntime, old: Deployment, doomed: list[Replica]
) -> None:
    """Drain and stop old replicas already out of the routes; their rows go first (no crash restart later)."""
    await forget(pipeline.service.db, old.id, [r.index for r in doomed if r.index])
    containers = [(r.container_id, r.upstream) for r in doomed]
    await drain_and_remove(
        pipeline.service, runtime, containers, drain=bool(pipeline.snap.domains), note=pipeline.log
    )


async def _switch(pipeline: Pipeline, new: list[Replica]) -> Deployment | None:
    """Routes to the new replicas only and the deployment current, in one transaction (the pipeline's switch)."""
    p = pipeline
    async with p.step("switch"):
        first, extras = new[0], [r.upstream for r in new[1:] if r.upstream]
        replaced = await p.service.switch(p.snap, p.deployment, first.upstream or "", extra_upstreams=extras)
        p.switched = True
        p.replica_upstreams = extras
    return replaced


def _port(replica: Replica) -> int:
    from .recovery import _loopback_port

    return _loopback_port(replica.upstream)


async def _restore(
    pipeline: Pipeline,
    runtime: ContainerRuntime,
    old: Deployment,
    serving: list[Replica],
    stopped: list[Replica],
) -> None:
    """After a failed step: the routes back to the old replicas still running, then the old replicas this
    rollout stopped started again from the old image (each health-gated and routed as it comes back).
    Replica 0 of the old deployment is never restarted here (it is stopped last, only with max_unavailable
    allowing it): the crash watcher brings it back, the old deployment being still the running one."""
    p = pipeline
    await _route(p, serving, [])
    p.log(f"rollout stopped: routes back to the {len(serving)} old replica(s) still running")
    again = [r for r in stopped if r.index]
    if not again or not old.image:
        return
    p.log(f"restarting the old replica(s) {', '.join(str(r.index) for r in again)} the rollout had stopped")
    results = await asyncio.gather(
        *(
            # on its old host port when free, so the routes end as they were
            start_replica(p.service, p.snap, old, old.image, r.index, runtime, note=p.log, host_port=_port(r))
            for r in again
        ),
        return_exceptions=True,
    )
    back = [
        Replica(r.index, r.container_id or "", r.upstream)
        for r in results
        if not isinstance(r, BaseException)
    ]
    await _route(p, serving + back, [])
    p.log(f"old deployment serves on {len(serving) + len(back)} replica(s) again")
