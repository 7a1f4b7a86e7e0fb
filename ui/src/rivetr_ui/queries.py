"""Read-only queries the pages need (lists, counts, recent activity). Writes never happen here: they go
through the core's services (``ctx.services``) or the REST API."""

from __future__ import annotations

import shutil
from datetime import timedelta
from typing import Any

import psutil
from sqlalchemy import func
from sqlmodel import col, select

from rivetr_core import readmodels
from rivetr_core.context import RivetrContext
from rivetr_core.db.engine import utcnow
from rivetr_core.models.apps import ACTIVE_STATUSES, App, AppDomain, Deployment, EnvVar, Project, SshKey
from rivetr_core.models.git import not_a_preview_app
from rivetr_core.pagination import PageQuery
from rivetr_core.readmodels import AppSummary

# cpu_percent(None) measures since the previous call; the first call has no baseline, so prime it at import.
psutil.cpu_percent(None)

ENVIRONMENTS = ("production", "staging", "development")


def host_stats(data_dir: Any) -> dict[str, Any]:
    memory = psutil.virtual_memory()
    try:
        disk = shutil.disk_usage(data_dir)
        disk_percent = round(disk.used / disk.total * 100, 1)
    except OSError:
        disk_percent = None
    return {
        "cpu_percent": round(psutil.cpu_percent(None), 1),
        "cpu_count": psutil.cpu_count() or 1,
        "memory_percent": round(memory.percent, 1),
        "memory_used": memory.total - memory.available,
        "memory_total": memory.total,
        "disk_percent": disk_percent,
    }


async def dashboard_counts(ctx: RivetrContext) -> dict[str, int]:
    since = utcnow() - timedelta(hours=24)
    async with ctx.db.session() as s:
        real = not_a_preview_app()  # preview apps of pull requests are not counted nor listed
        apps = (await s.exec(select(func.count()).select_from(App).where(real))).one()
        running = (
            await s.exec(select(func.count()).select_from(App).where(real, App.status == "running"))
        ).one()
        failed = (
            await s.exec(
                select(func.count())
                .select_from(Deployment)
                .where(Deployment.status == "failed", col(Deployment.created_at) >= since)
            )
        ).one()
        active = (
            await s.exec(
                select(func.count())
                .select_from(Deployment)
                .where(col(Deployment.status).in_(ACTIVE_STATUSES))
            )
        ).one()
        projects = (await s.exec(select(func.count()).select_from(Project))).one()
    return {
        "apps": int(apps),
        "running": int(running),
        "failed_24h": int(failed),
        "active": int(active),
        "projects": int(projects),
    }


async def recent_deployments(
    ctx: RivetrContext, limit: int = 12, app_id: str | None = None
) -> list[dict[str, Any]]:
    """Newest deployments with their app's name (the dashboard's activity feed and an app's timeline)."""
    query = select(Deployment, App.name).join(App, col(App.id) == col(Deployment.app_id))
    if app_id:
        query = query.where(Deployment.app_id == app_id)
    query = query.order_by(col(Deployment.created_at).desc()).limit(limit)
    async with ctx.db.session() as s:
        rows = (await s.exec(query)).all()
    return [{"deployment": dep, "app_name": name} for dep, name in rows]


async def list_projects(ctx: RivetrContext) -> list[dict[str, Any]]:
    async with ctx.db.session() as s:
        projects = (await s.exec(select(Project).order_by(Project.name))).all()
        counts = dict(
            (
                await s.exec(
                    select(App.project_id, func.count()).where(not_a_preview_app()).group_by(App.project_id)
                )
            ).all()
        )
        running = dict(
            (
                await s.exec(
                    select(App.project_id, func.count())
                    .where(not_a_preview_app(), App.status == "running")
                    .group_by(App.project_id)
                )
            ).all()
        )
    return [{"project": p, "apps": counts.get(p.id, 0), "running": running.get(p.id, 0)} for p in projects]


async def get_project(ctx: RivetrContext, project_id: str) -> Project | None:
    async with ctx.db.session() as s:
        return await s.get(Project, project_id)


async def list_apps(
    ctx: RivetrContext, environment: str | None = None, project_id: str | None = None
) -> list[AppSummary]:
    """The app tables: plain rows from the read-model (name, status, project name, domains ...), by name."""
    return await readmodels.list_apps(ctx.db, environment=environment, project_id=project_id)


async def get_app(ctx: RivetrContext, app_id: str) -> App | None:
    async with ctx.db.session() as s:
        app = await s.get(App, app_id)
        if app is None:  # the palette and links may use the name
            app = (await s.exec(select(App).where(App.name == app_id))).first()
        return app


async def app_domains(ctx: RivetrContext, app_id: str) -> list[str]:
    async with ctx.db.session() as s:
        rows = (
            await s.exec(
                select(AppDomain).where(AppDomain.app_id == app_id).order_by(col(AppDomain.position))
            )
        ).all()
    return [r.domain for r in rows]


async def env_vars(ctx: RivetrContext, app_id: str) -> list[EnvVar]:
    async with ctx.db.session() as s:
        return list((await s.exec(select(EnvVar).where(EnvVar.app_id == app_id).order_by(EnvVar.key))).all())


async def ssh_keys(ctx: RivetrContext) -> list[SshKey]:
    async with ctx.db.session() as s:
        return list((await s.exec(select(SshKey).order_by(SshKey.name))).all())


async def get_deployment(ctx: RivetrContext, deployment_id: str) -> Deployment | None:
    async with ctx.db.session() as s:
        return await s.get(Deployment, deployment_id)


async def recent_audit(audit: Any, limit: int = 10) -> list[Any]:
    """Latest audit entries (logins, changes through the API) when the audit log is installed."""
    if audit is None:
        return []
    rows, _next = await audit.query(page=PageQuery(limit=limit))
    return list(rows)


def merge_activity(
    deployments: list[dict[str, Any]], audit_rows: list[Any], limit: int = 15
) -> list[dict[str, Any]]:
    """One feed, newest first: deployments and audit entries side by side."""
    items = [{"kind": "deployment", "ts": d["deployment"].created_at, **d} for d in deployments]
    items += [{"kind": "audit", "ts": row.ts, "entry": row} for row in audit_rows]
    items.sort(key=lambda i: i["ts"].replace(tzinfo=None) if i["ts"].tzinfo else i["ts"], reverse=True)
    return items[:limit]
