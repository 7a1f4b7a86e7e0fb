"""Deployments as pages show them: an app's timeline, the dashboard's activity feed, one deployment."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from rivetr_core.authz.visibility import core_criteria
from rivetr_core.models.apps import App, Deployment

if TYPE_CHECKING:
    from rivetr_core.db import Database


@dataclass(frozen=True, slots=True)
class DeploymentSummary:
    """One deployment. Field names match :class:`~rivetr_core.models.apps.Deployment`'s columns (the log tail
    is left out: pages stream logs from the API), plus its app's name."""

    id: str
    app_id: str
    status: str
    trigger: str
    started_by: str | None
    requested_commit: str | None
    commit_sha: str | None
    commit_message: str | None
    rollback_of: str | None
    image: str | None
    image_removed: bool
    container_id: str | None
    container_name: str | None
    upstream: str | None
    error: str | None
    #: Step name → ``{"started_at", "finished_at", "duration_ms"}`` as the pipeline records them.
    steps: dict[str, Any]
    restart_count: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    app_name: str
    #: What the commit's rivetr.toml applied (``{"commit", "path", "file", "changes"}``) or None.
    applied_config: dict[str, Any] | None = None
    #: The control plane that queued or runs it (PostgreSQL with several planes); None on SQLite.
    plane_id: str | None = None


_DEPLOYMENTS = Deployment.__table__  # type: ignore[attr-defined]
_APPS = App.__table__  # type: ignore[attr-defined]
_COLUMNS = [_DEPLOYMENTS.c[f.name] for f in fields(DeploymentSummary) if f.name != "app_name"]


def _select() -> Any:
    """Deployments with their app's name; a team's page only its own (rivetr_core.authz.visibility)."""
    return (
        select(*_COLUMNS, _APPS.c.name.label("app_name"))
        .join(_APPS, _APPS.c.id == _DEPLOYMENTS.c.app_id)
        .where(*core_criteria(_DEPLOYMENTS))
    )


async def _rows(db: Database, stmt: Any) -> list[DeploymentSummary]:
    async with db.engine.connect() as conn:
        rows = (await conn.execute(stmt)).mappings().all()
    return [DeploymentSummary(**row) for row in rows]


async def recent_deployments(
    db: Database, *, limit: int = 12, app_id: str | None = None
) -> list[DeploymentSummary]:
    """The newest deployments (of one app, or of all), newest first."""
    stmt = _select()
    if app_id:
        stmt = stmt.where(_DEPLOYMENTS.c.app_id == app_id)
    return await _rows(db, stmt.order_by(_DEPLOYMENTS.c.created_at.desc()).limit(limit))


async def get_deployment(db: Database, deployment_id: str) -> DeploymentSummary | None:
    found = await _rows(db, _select().where(_DEPLOYMENTS.c.id == deployment_id))
    return found[0] if found else None
