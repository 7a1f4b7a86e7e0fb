"""A dead control plane's stack deployments and app task runs, taken over by a live plane (PostgreSQL).

App deployments are adopted in engine/recovery.py; this module does the same for the two other kinds of work
that record their plane (``plane_id``, migration 0032): one ``UPDATE ... SET plane_id = <me> WHERE plane_id NOT
IN (<live planes>) RETURNING ...`` gives each row to exactly one adopter (PostgreSQL's row locks make a second
adopter's UPDATE wait, re-read the row, see a live owner and match nothing), then:

* in a lease round, a stack deployment still queued and never claimed (``started_at`` null) is run by the
  adopter: the claim in engine/claims.py still guards the pipeline, so it runs once whatever races; one that had
  started is failed and its half-started containers removed (its pipeline died with the plane), as a restart
  would. At start-up both are failed, as app deployments are (engine/recovery.py);
* an app task run in progress ends ``interrupted`` (its command ran through the dead process's engine call).

At start-up (``at_start``) rows without a plane (written before 0032, or by a SQLite install copied over) are
the starting plane's too, as app deployments are. On SQLite (no plane) every row in progress is this process's
and a start-up recovers them all, as before. Raw SQL first: a server without stacks never loads the feature.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa

from .planes import LIVE_PLANES_SQL

log = logging.getLogger("rivetr.engine.adoption")

_STACK_ACTIVE = "'queued','cloning','building','starting','health_checking','switching'"
_OWNERLESS = "(plane_id IS NULL OR plane_id NOT IN (" + LIVE_PLANES_SQL + "))"
_DEAD_OWNER = "plane_id NOT IN (" + LIVE_PLANES_SQL + ")"


def _plane(ctx: Any) -> Any:
    return getattr(ctx.services.get("deployments"), "plane", None)


async def adopt_stack_deployments(ctx: Any, *, at_start: bool) -> tuple[list[str], list[str]]:
    """Take over the stack deployments in progress of dead planes (at start-up also those without a plane; on
    SQLite all of them): the queued ones run here, the started ones are failed. Returns (run, failed) ids."""
    plane = _plane(ctx)
    async with ctx.db.engine.begin() as conn:
        if plane is None:
            sql = f"SELECT id, stack_id, status, started_at, created_at FROM stack_deployments WHERE status IN ({_STACK_ACTIVE})"
            params: dict[str, Any] = {}
        else:
            sql = (
                f"UPDATE stack_deployments SET plane_id = :me WHERE status IN ({_STACK_ACTIVE}) AND "
                f"{_OWNERLESS if at_start else _DEAD_OWNER} RETURNING id, stack_id, status, started_at, created_at"
            )
            params = {"me": plane.id, "lease": plane.lease}
        rows = list((await conn.execute(sa.text(sql), params)).all())
    if not rows:
        return [], []
    # A lease round: a queued one's plane died before claiming it, so this plane runs it. A start-up fails it,
    # as a restart always did (and as engine/recovery.py does with an app's): a restart is a stop the operator
    # saw, a dead plane's queue is work someone is waiting for.
    queued = (
        sorted((r for r in rows if r.status == "queued" and r.started_at is None), key=lambda r: r.created_at)
        if plane is not None and not at_start
        else []
    )
    started = [r.id for r in rows if r not in queued]
    stacks = ctx.services.stacks
    if started:
        cause = "the server stopped" if at_start else "the control plane running it stopped"
        await stacks.recover(ids=started, error=f"interrupted: {cause}")
    for row in queued:
        stacks.resume(row.stack_id, row.id)
    if plane is not None:
        log.warning(
            "took over %d stack deployment(s) of a control plane that stopped: %d queued run here, %d failed",
            len(rows),
            len(queued),
            len(started),
        )
    return [r.id for r in queued], started


async def interrupt_task_runs(ctx: Any, *, at_start: bool) -> int:
    """End ``interrupted`` the app task runs in progress of dead planes (at start-up also those without a plane;
    on SQLite all of them). The run keeps the plane that ran it. Returns how many."""
    plane = _plane(ctx)
    cause = "the server stopped" if at_start else "the control plane running it stopped"
    where = "status = 'running'"
    params: dict[str, Any] = {"error": f"{cause} before the run finished"}
    if plane is not None:
        where += " AND " + (_OWNERLESS if at_start else _DEAD_OWNER)
        params["lease"] = plane.lease
    async with ctx.db.engine.begin() as conn:
        result = await conn.execute(
            sa.text(
                "UPDATE app_task_runs SET status = 'interrupted', finished_at = CURRENT_TIMESTAMP,"
                f" error = :error WHERE {where}"
            ),
            params,
        )
    count = int(getattr(result, "rowcount", 0) or 0)
    if count and plane is not None and not at_start:
        log.warning("%d app task run(s) of a control plane that stopped ended interrupted", count)
    return count
