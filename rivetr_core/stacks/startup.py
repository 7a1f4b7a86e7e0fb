"""Start-up of the stacks area: deployments a stopped server left active are failed (their half-started
containers removed, the previous ones running again). Raw SQL first: a server without stacks never loads the
feature."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa

log = logging.getLogger("rivetr.stacks")


async def start(app: Any, ctx: Any) -> None:
    async with ctx.db.session() as session:
        found = await session.exec(
            sa.text(
                "SELECT 1 FROM stack_deployments WHERE status IN "
                "('queued','cloning','building','starting','health_checking','switching') LIMIT 1"
            )
        )
        if found.first() is None:
            return
    from rivetr_core.engine.planes import another_plane_alive

    if await another_plane_alive(ctx):  # they may be its deployments (engine/planes.py)
        log.warning(
            "stack deployments in progress left alone: another control plane on the database is alive"
        )
        return

    async def recover() -> None:
        try:
            await ctx.runtime()
        except Exception:
            log.warning("no container engine: interrupted stack deployments are marked failed only")
        count = await ctx.services.stacks.recover()
        log.info("recovered %d interrupted stack deployment(s)", count)

    ctx.spawn(recover(), "stacks-recovery")
