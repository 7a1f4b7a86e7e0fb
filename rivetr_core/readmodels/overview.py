"""What the dashboard's front page and project pages show: counts, projects with their apps, the audit feed.

Preview apps of pull requests are neither counted nor listed here (they belong to their base app's page).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, func, select

from rivetr_core.authz.visibility import core_criteria
from rivetr_core.db import utcnow
from rivetr_core.models.apps import ACTIVE_STATUSES, App, Deployment, Project
from rivetr_core.models.git import not_a_preview_app

if TYPE_CHECKING:
    from rivetr_core.db import Database

_APPS = App.__table__  # type: ignore[attr-defined]
_DEPLOYMENTS = Deployment.__table__  # type: ignore[attr-defined]
_PROJECTS = Project.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class DashboardCounts:
    apps: int
    running: int
    #: Deployments that failed in the last 24 hours.
    failed_24h: int
    #: Deployments under way (queued to switching).
    active: int
    projects: int


async def dashboard_counts(db: Database) -> DashboardCounts:
    since = utcnow() - timedelta(hours=24)
    real = and_(not_a_preview_app(), *core_criteria(_APPS))
    deployments = core_criteria(_DEPLOYMENTS)  # a team's page counts its own (authz.visibility)
    count = select(func.count())
    async with db.engine.connect() as conn:

        async def one(stmt: Any) -> int:
            return int((await conn.execute(stmt)).scalar_one())

        return DashboardCounts(
            apps=await one(count.select_from(_APPS).where(real)),
            running=await one(count.select_from(_APPS).where(real, _APPS.c.status == "running")),
            failed_24h=await one(
                count.select_from(_DEPLOYMENTS).where(
                    _DEPLOYMENTS.c.status == "failed", _DEPLOYMENTS.c.created_at >= since, *deployments
                )
            ),
            active=await one(
                count.select_from(_DEPLOYMENTS).where(
                    _DEPLOYMENTS.c.status.in_(ACTIVE_STATUSES), *deployments
                )
            ),
            projects=await one(count.select_from(_PROJECTS).where(*core_criteria(_PROJECTS))),
        )


@dataclass(frozen=True, slots=True)
class ProjectSummary:
    """A project with how many of its apps exist and run."""

    id: str
    name: str
    description: str
    apps: int
    running: int


async def list_projects(db: Database, *, project_id: str | None = None) -> list[ProjectSummary]:
    """Every project (or the one ``project_id``), by name."""
    running = func.sum(case((_APPS.c.status == "running", 1), else_=0))
    per_project = (
        select(_APPS.c.project_id, func.count().label("apps"), running.label("running"))
        .where(not_a_preview_app())
        .group_by(_APPS.c.project_id)
        .subquery()
    )
    stmt = (
        select(
            _PROJECTS.c.id,
            _PROJECTS.c.name,
            _PROJECTS.c.description,
            func.coalesce(per_project.c.apps, 0).label("apps"),
            func.coalesce(per_project.c.running, 0).label("running"),
        )
        .outerjoin(per_project, per_project.c.project_id == _PROJECTS.c.id)
        .where(*core_criteria(_PROJECTS))
        .order_by(_PROJECTS.c.name)
    )
    if project_id is not None:
        stmt = stmt.where(_PROJECTS.c.id == project_id)
    async with db.engine.connect() as conn:
        rows = (await conn.execute(stmt)).mappings().all()
    return [ProjectSummary(**row) for row in rows]


async def get_project(db: Database, project_id: str) -> ProjectSummary | None:
    found = await list_projects(db, project_id=project_id)
    return found[0] if found else None


async def project_names(db: Database, ids: set[str]) -> dict[str, str]:
    """Project id → name for ``ids`` (those the request may see: the team filter applies)."""
    if not ids:
        return {}
    stmt = select(_PROJECTS.c.id, _PROJECTS.c.name).where(_PROJECTS.c.id.in_(ids), *core_criteria(_PROJECTS))
    async with db.engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return {row[0]: row[1] for row in rows}


async def recent_audit(audit: Any, limit: int = 10, outcome: str | None = None) -> list[Any]:
    """The latest audit entries (sign-ins, changes through the API), newest first, of one ``outcome``
    (success/failure) or both; [] without an audit log (``app.extensions["rivetr_audit"]``)."""
    if audit is None:
        return []
    from rivetr_core.pagination import PageQuery

    rows, _next = await audit.query(page=PageQuery(limit=limit), outcome=outcome)
    return list(rows)
