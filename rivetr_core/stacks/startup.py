"""Start-up of the stacks area: deployments a stopped server left active are failed (their half-started
containers removed, the previous ones running again); on PostgreSQL only a dead control plane's
(engine/adoption.py). Raw SQL first: a server without stacks never loads the
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

    async def recover() -> None:
        from rivetr_core.engine.adoption import adopt_stack_deployments

        try:
            await ctx.runtime()
        except Exception:
            log.warning("no container engine: interrupted stack deployments are marked failed only")
        # With control planes (PostgreSQL) only those of dead planes (and without a plane): a live plane's go on.
        _, failed = await adopt_stack_deployments(ctx, at_start=True)
        log.info("recovered %d interrupted stack deployment(s)", len(failed))

    ctx.spawn(recover(), "stacks-recovery")
