"""A stack's routes follow the routed containers its engine replaced (see :mod:`rivetr_core.stacks.watch`).

Under the stack's deployment lock (a deployment switching its routes is never raced): each routed service's
recorded containers of the current deployment are inspected; a running one that is no longer reached at the
recorded upstream (none of its host bindings or network addresses for the service's routed port is it) gets the
upstream the deployer would compute, recorded anew in the deployment's
``services``, and the domains of that service are routed to the new upstreams, in one transaction, then pushed
to the proxy. A container that is not running is left alone: its engine's restart policy brings it back (or not:
compose's default ``restart: "no"``), and the next round follows it.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from sqlmodel import select

from rivetr_core.contract import ContainerInfo, ContainerNotFound, ContainerRuntime
from rivetr_core.models.stacks import Stack, StackDeployment, StackDomain

from .deployer import _upstream

log = logging.getLogger("rivetr.stacks.moved")


def _addresses(info: ContainerInfo, port: int) -> set[str]:
    """Every address the proxy may reach ``port`` of the container at now: each host binding of it and each of
    its networks' addresses. The deployer recorded one of them; which one depends on the order the engine lists
    networks in, so only a recorded address that is none of them any more means the container moved."""
    out = {u for u in [info.upstream] if u}
    for binding in info.ports:
        if binding.container_port == port and binding.host_port and binding.protocol == "tcp":
            host = binding.host_ip if binding.host_ip not in ("", "0.0.0.0", "::") else None
            for address in [host] if host else [info.node_address or "127.0.0.1", "127.0.0.1"]:
                out.add(
                    f"[{address}]:{binding.host_port}" if ":" in address else f"{address}:{binding.host_port}"
                )
    out.update(f"{ip}:{port}" for ip in info.networks.values() if ip)
    return out


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
                if not info.running or container.get("upstream") in _addresses(info, port):
                    continue  # stopped (its engine's business), or still reached where it was recorded
                upstream = _upstream(info, port)
                if upstream:
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
