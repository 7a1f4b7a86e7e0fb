"""The deployments area's start-up (listed in ``CORE_SERVICES``): service, recovery, crash watcher, and managed
services brought back to their desired state."""

from __future__ import annotations

import logging
from typing import Any

from .recovery import CrashWatcher, background_recovery, fail_interrupted
from .service import DeploymentService

log = logging.getLogger("rivetr.engine.startup")


async def start(app: Any, ctx: Any) -> None:
    service = DeploymentService(ctx)
    await service.load_instance_id()
    ctx.services["deployments"] = service
    if ctx.db.dialect == "postgresql":  # several processes may share it: register this one's lease first
        await start_plane(ctx, service)
    await fail_interrupted(service)
    ctx.spawn(background_recovery(service), "deployments-recovery")
    ctx.spawn(CrashWatcher(service).run(), "crash-watcher")
    # Stack services are restarted by their engine; their routes follow a replaced container (swarm: a new task).
    ctx.spawn(stack_routes(ctx), "stack-routes")
    ctx.spawn(reconcile_services(ctx), "services-reconcile")


async def stack_routes(ctx: Any) -> None:
    from rivetr_core.stacks.watch import run

    await run(ctx)


async def start_plane(ctx: Any, service: DeploymentService) -> None:
    """Register this process as a control plane (engine/planes.py; ``service.plane``, which the API lists) and
    renew its lease in the background, taking over the deployments of planes whose lease ran out."""
    from .planes import ControlPlanes
    from .recovery import take_over

    plane = ControlPlanes(ctx.db, ctx.config.database.plane_lease_seconds, ctx.config.server.data_dir)
    await plane.register()
    service.plane = plane
    ctx.spawn(plane.run(lambda: take_over(service)), "control-plane-lease")


async def reconcile_services(ctx: Any) -> None:
    """Managed services that should run are started again (their containers stopped with the engine or were
    removed) and checked for readiness, in the background once the engine answers. The feature (its tables,
    templates, engine glue) loads only when the services table has a row: an idle server without services
    never imports it."""
    import sqlalchemy as sa

    from rivetr_core.contract import RuntimeUnavailable

    async with ctx.db.engine.connect() as conn:
        wanted = (
            await conn.execute(sa.text("SELECT 1 FROM services WHERE desired_state != 'stopped' LIMIT 1"))
        ).first()
    if wanted is None:
        return
    try:
        await ctx.runtime()
    except RuntimeUnavailable as exc:
        log.warning("managed services not checked at start-up: %s", exc.message)
        return
    await ctx.services.managed.reconcile()
