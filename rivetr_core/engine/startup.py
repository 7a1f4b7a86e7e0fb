"""The deployments area's start-up (listed in ``CORE_SERVICES``): service, recovery, crash watcher."""

from __future__ import annotations

from typing import Any

from .recovery import CrashWatcher, background_recovery, fail_interrupted
from .service import DeploymentService


async def start(app: Any, ctx: Any) -> None:
    service = DeploymentService(ctx)
    await service.load_instance_id()
    ctx.services["deployments"] = service
    await fail_interrupted(service)
    ctx.spawn(background_recovery(service), "deployments-recovery")
    ctx.spawn(CrashWatcher(service).run(), "crash-watcher")
