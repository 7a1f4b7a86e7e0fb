"""What the pages read (lists, counts, recent activity), from core's read-model (:mod:`rivetr_core.readmodels`:
plain data objects) and the host's own figures. Writes never happen here: they go through the core's services
(``ctx.services``) or the REST API."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Any

import psutil
from sqlalchemy import text

from rivetr_core import readmodels
from rivetr_core.context import RivetrContext
from rivetr_core.contract import unavailable_reason
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
    ctx: RivetrContext,
    environment: str | None = None,
    project_id: str | None = None,
    tags: list[str] | None = None,
) -> list[AppSummary]:
    """The app tables: plain rows from the read-model (name, status, project name, domains, tags ...), by name;
    only those holding every one of ``tags`` when given."""
    return await readmodels.list_apps(ctx.db, environment=environment, project_id=project_id, tags=tags)


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
    """Latest changes that happened (logins, changes through the API) when the audit log is installed: refused
    requests (a 4xx validation error, a wrong password) are not events of the server; the audit page has them."""
    return await readmodels.recent_audit(audit, limit, outcome="success")


# ------------------------------------------------------------------------------------------------ stacks
# Compose stacks are feature code (YAML, the compose schema, the stack engine): ``ctx.services.stacks`` builds it on
# first use, so every helper below that a page every user sees (a project's Network panel) asks the table first.
_ANY_STACK = text("SELECT 1 FROM stacks LIMIT 1")
#: The stacks page and the deployments list show this many (a handful in practice; the API pages through more).
STACKS_LISTED = 200


@dataclass(frozen=True)
class Page:
    """The two fields the stack service's lists read of core's ``PageQuery`` (the dashboard may not import core's
    pagination: tests/test_layering.py); the first page, ``limit`` long."""

    limit: int = STACKS_LISTED
    cursor: str | None = None


async def any_stack(ctx: RivetrContext) -> bool:
    async with ctx.db.engine.connect() as conn:
        return (await conn.execute(_ANY_STACK)).first() is not None


async def stack_rows(ctx: RivetrContext, tags: list[str] | None = None) -> list[dict[str, Any]]:
    """The stacks list: each stack with its domains and how many services its live deployment runs (as recorded,
    no engine call per row), only those holding every one of ``tags`` when given; [] without loading the
    feature while none exists."""
    if not await any_stack(ctx):
        return []
    service: Any = ctx.services.stacks  # Any: it is given a Page where it declares PageQuery
    rows, _next = await service.list(Page(), tags=tags)
    out = []
    for row in rows:
        services = 0
        if row.current_deployment_id:
            dep = await service.get_deployment(row.current_deployment_id)
            services = len(dep.services or {})
        out.append(
            {
                "id": row.id,
                "name": row.name,
                "project_id": row.project_id,
                "source": row.source,
                "status": row.status,
                "error": row.error,
                "services": services,
                "domains": [d.domain for d in await service.domains(row.id)],
                "tags": list(row.tags or ()),
            }
        )
    return out


async def stack_detail(ctx: RivetrContext, stack_id: str, *, reveal: bool = False) -> dict[str, Any]:
    """A stack by id or name as ``GET /api/stacks/{id}`` answers it (variables masked unless ``reveal``): its
    services with their containers as the engine sees them now. NotFound (a 404 page) when there is none."""
    result: dict[str, Any] = await ctx.services.stacks.detail(stack_id, reveal=reveal)
    return result


async def stack_deployments(ctx: RivetrContext, stack_id: str, limit: int = 30) -> list[Any]:
    """A stack's newest deployments (rows of the stack service: id, status, trigger, error, services, times)."""
    service: Any = ctx.services.stacks  # Any: it is given a Page where it declares PageQuery
    rows, _next = await service.list_deployments(stack_id, Page(limit=limit))
    return list(rows)


async def project_network(ctx: RivetrContext, project_id: str) -> dict[str, Any]:
    """Who is on a project's private network under which names, as ``GET /api/projects/{id}/network`` answers
    (the project service reads it without loading the stack feature)."""
    result: dict[str, Any] = await ctx.services.projects.network(project_id)
    return result


def builder_choices(ctx: RivetrContext) -> tuple[list[str], dict[str, str]]:
    """What the builder selectors offer: ``auto`` then the installed builders by name (the API refuses others),
    and why each one that cannot run here is unavailable (an optional builder whose CLI is missing)."""
    installed = ctx.plugins.builders()
    notes = {
        name: f"unavailable: {why}" for name, reg in installed.items() if (why := unavailable_reason(reg))
    }
    return ["auto", *sorted(installed)], notes
