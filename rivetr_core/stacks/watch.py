"""The stacks' route watcher: routes of a stack follow a routed service's container that the engine replaced.

A stack service is restarted by its engine, never by Rivetr's crash watcher (engine/recovery.py watches apps):
compose's ``restart:`` (or swarm's ``deploy.restart_policy.condition``) is the engine's restart policy, on docker
and podman the container's, on swarm the service's. On docker and podman the restarted container is the same
container; on swarm the service runs a NEW task (another container, another host port, maybe another node), so
the upstream the stack's domains route to is stale. Every ``[runtime] crash_check_interval`` seconds this looks
at the routed services of running stacks (raw SQL first: a server without a routed stack loads nothing more)
and :func:`rivetr_core.stacks.moved.follow` points their domains at where the containers run now, the stack
twin of engine/moved.py for apps.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import sqlalchemy as sa

log = logging.getLogger("rivetr.stacks.watch")

#: Running stacks with a domain: the only ones whose routes can go stale.
ROUTED_STACKS_SQL = sa.text(
    "SELECT DISTINCT s.id FROM stacks s JOIN stack_domains d ON d.stack_id = s.id "
    "WHERE s.status = 'running' AND s.current_deployment_id IS NOT NULL"
)


async def check_once(ctx: Any) -> list[str]:
    """Follow the moved containers of every routed running stack; returns the new upstreams recorded."""
    async with ctx.db.engine.connect() as conn:
        stack_ids = [str(row[0]) for row in (await conn.execute(ROUTED_STACKS_SQL)).all()]
    if not stack_ids:
        return []
    from .moved import follow

    runtime = await ctx.runtime()
    moved: list[str] = []
    for stack_id in stack_ids:
        moved += await follow(ctx, runtime, stack_id)
    return moved


async def run(ctx: Any) -> None:
    """The watcher's loop (spawned at start-up next to the crash watcher)."""
    from rivetr_core.contract import RuntimeUnavailable

    while True:
        await asyncio.sleep(ctx.config.runtime.crash_check_interval)
        try:
            await check_once(ctx)
        except RuntimeUnavailable as exc:
            log.debug("stack route check skipped: %s", exc.message)
        except Exception:
            log.warning("stack route check failed", exc_info=True)
