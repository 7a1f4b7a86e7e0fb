"""Claiming a queued deployment (an app's or a stack's) when several control planes share one PostgreSQL database.

On SQLite one process owns the file and its in-memory :class:`~.queue.DeploymentQueue` is the only thing that
runs pipelines (a stack's: ``StackService``'s tasks), so nothing here is called there. On PostgreSQL two ``rivetr serve`` processes (the first step to
an HA control plane) could both be handed the same queued deployment; the pipeline starts only after one atomic
``UPDATE ... WHERE status = 'queued' AND started_at IS NULL RETURNING id`` stamped the row. Under PostgreSQL's
row locking the loser's UPDATE waits for the winner's commit, re-reads the row, matches nothing and returns no
row, so exactly one process runs the pipeline. ``started_at`` is the claim mark because a queued deployment never
has one (the pipeline writes it again when it starts cloning) and using it needs no new column.

The same UPDATE makes the winner the deployment's owner (``plane_id``, engine/planes.py): the plane that runs
a pipeline is the one whose recovery and crash watcher look after it, and it dies with that plane's lease.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from rivetr_core.db import utcnow
from rivetr_core.models.apps import Deployment

if TYPE_CHECKING:
    from rivetr_core.db.engine import Database


async def claim_deployment(db: Database, deployment_id: str, plane_id: str | None = None) -> bool:
    """True when this process won ``deployment_id`` (it was queued and nobody had claimed it); False when
    another process (or an earlier call) did. ``plane_id``: this process's control plane, recorded as the
    owner."""
    return await _claim(db, Deployment, deployment_id, {"plane_id": plane_id} if plane_id else {})


async def claim_stack_deployment(db: Database, deployment_id: str, plane_id: str | None = None) -> bool:
    """:func:`claim_deployment` for a stack's deployment (its row has the same ``status``/``started_at``, and
    a ``plane_id`` too)."""
    from rivetr_core.models.stacks import StackDeployment

    return await _claim(db, StackDeployment, deployment_id, {"plane_id": plane_id} if plane_id else {})


async def _claim(db: Database, model: Any, row_id: str, extra: dict[str, Any] | None = None) -> bool:
    stmt = (
        sa.update(model)
        .where(model.id == row_id, model.status == "queued", model.started_at == None)  # noqa: E711
        .values(started_at=utcnow(), **(extra or {}))
        .returning(model.id)
    )
    async with db.engine.begin() as conn:
        return (await conn.execute(stmt)).first() is not None
