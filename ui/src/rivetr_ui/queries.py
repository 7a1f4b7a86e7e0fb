"""What the pages read (lists, counts, recent activity), from core's read-model (:mod:`rivetr_core.readmodels`:
plain data objects) and the host's own figures. Writes never happen here: they go through the core's services
(``ctx.services``) or the REST API."""

from __future__ import annotations

import shutil
from typing import Any

import psutil

from rivetr_core import readmodels
from rivetr_core.context import RivetrContext
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


async def dashboard_counts(ctx: RivetrContext) -> readmodels.DashboardCounts:
    return await readmodels.dashboard_counts(ctx.db)


async def recent_deployments(
    ctx: RivetrContext, limit: int = 12, app_id: str | None = None
) -> list[readmodels.DeploymentSummary]:
    """Newest deployments with their app's name (the dashboard's activity feed and an app's timeline)."""
    return await readmodels.recent_deployments(ctx.db, limit=limit, app_id=app_id)


async def list_projects(ctx: RivetrContext) -> list[readmodels.ProjectSummary]:
    return await readmodels.list_projects(ctx.db)


async def get_project(ctx: RivetrContext, project_id: str) -> readmodels.ProjectSummary | None:
    return await readmodels.get_project(ctx.db, project_id)


async def list_apps(
    ctx: RivetrContext, environment: str | None = None, project_id: str | None = None
) -> list[AppSummary]:
    """The app tables: plain rows from the read-model (name, status, project name, domains ...), by name."""
    return await readmodels.list_apps(ctx.db, environment=environment, project_id=project_id)


async def services_if_any(ctx: RivetrContext, project_id: str | None = None) -> list[dict[str, Any]]:
    """Managed services (of a project) in the API's shape; [] without loading that feature while none exists."""
    return await readmodels.services_if_any(ctx, project_id=project_id, limit=200)


async def get_app(ctx: RivetrContext, app_id: str) -> AppSummary | None:
    """An app by id, or by name (the palette and links may use the name)."""
    return await readmodels.get_app(ctx.db, app_id)


async def app_domains(ctx: RivetrContext, app_id: str) -> list[str]:
    return await readmodels.app_domains(ctx.db, app_id)


async def env_vars(ctx: RivetrContext, app_id: str) -> list[readmodels.EnvVarView]:
    """Non-secret values are shown; secret ones stay masked until revealed through the API."""
    return await readmodels.env_vars(ctx.db, ctx.secrets, app_id)


async def ssh_keys(ctx: RivetrContext) -> list[readmodels.SshKeySummary]:
    return await readmodels.ssh_keys(ctx.db)


async def get_deployment(ctx: RivetrContext, deployment_id: str) -> readmodels.DeploymentSummary | None:
    return await readmodels.get_deployment(ctx.db, deployment_id)


async def recent_audit(audit: Any, limit: int = 10) -> list[Any]:
    """Latest audit entries (logins, changes through the API) when the audit log is installed."""
    return await readmodels.recent_audit(audit, limit)


def merge_activity(
    deployments: list[readmodels.DeploymentSummary], audit_rows: list[Any], limit: int = 15
) -> list[dict[str, Any]]:
    """One feed, newest first: deployments and audit entries side by side."""
    items: list[dict[str, Any]] = [
        {"kind": "deployment", "ts": d.created_at, "deployment": d, "app_name": d.app_name}
        for d in deployments
    ]
    items += [{"kind": "audit", "ts": row.ts, "entry": row} for row in audit_rows]
    items.sort(key=lambda i: i["ts"].replace(tzinfo=None) if i["ts"].tzinfo else i["ts"], reverse=True)
    return items[:limit]
