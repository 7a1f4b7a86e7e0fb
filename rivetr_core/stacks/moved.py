"""A stack's routes follow the routed containers its engine replaced (see :mod:`rivetr_core.stacks.watch`).

Under the stack's deployment lock (a deployment switching its routes is never raced): each routed service's
recorded containers of the current deployment are inspected; a running one whose upstream (for the service's
routed port, as the deployer computes it) is not the recorded one is recorded anew in the deployment's
``services``, and the domains of that service are routed to the new upstreams, in one transaction, then pushed
to the proxy. A container that is not running is left alone: its engine's restart policy brings it back (or not:
compose's default ``restart: "no"``), and the next round follows it.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from sqlmodel import select

from rivetr_core.contract import ContainerNotFound, ContainerRuntime
from rivetr_core.models.stacks import Stack, StackDeployment, StackDomain

from .deployer import _upstream

log = logging.getLogger("rivetr.stacks.moved")


async def follow(ctx: Any, runtime: ContainerRuntime, stack_id: str) -> list[str]:
    """Record and route to the new upstreams of the stack's moved routed containers; returns them (empty when
    nothing moved, or the stack is not running a deployment)."""
    stacks = ctx.services.stacks
    async with stacks.deploy_lock(stack_id):
        async with ctx.db.session() as session:
            stack = await session.get(Stack, stack_id)
            if stack is None or stack.status != "running" or not stack.current_deployment_id:
                return []
            dep = await session.get(StackDeployment, stack.current_deployment_id)
            domains = list(
                (await session.exec(select(StackDomain).where(StackDomain.stack_id == stack_id))).all()
            )
        if dep is None or dep.status != "running" or not domains:
            return []
        services: dict[str, Any] = copy.deepcopy(dep.services or {})
        ports = {d.service: d.port for d in domains}
        moved: list[str] = []
        changed: set[str] = set()
        for service, port in ports.items():
            for container in (services.get(service) or {}).get("containers") or []:
                if not container.get("id"):
                    continue
                try:
                    info = await runtime.inspect(container["id"])
                except ContainerNotFound:
                    continue
                upstream = _upstream(info, port) if info.running else None
                if upstream and upstream != container.get("upstream"):
                    container["upstream"] = upstream
                    moved.append(upstream)
                    changed.add(service)
        if not changed:
            return []
        routes = ctx.services.routes
        async with ctx.db.session() as session:
            row = await session.get(StackDeployment, dep.id)
            if row is None or row.status != "running":
                return []
            row.services = services
            session.add(row)
            staged = []
            for domain in domains:
                if domain.service not in changed:
                    continue
                upstreams = [
                    c["upstream"] for c in services[domain.service]["containers"] if c.get("upstream")
                ]
                staged.append(await routes.stage(session, domain.domain, upstreams, stack_id=stack_id))
            await session.commit()
        for route in staged:
            await routes.publish(route)
        log.warning(
            "stack %s: the engine replaced %s; routes now go to %s", stack.name, sorted(changed), moved
        )
        return moved
