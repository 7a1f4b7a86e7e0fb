"""``/``: stats cards (apps, running, failed deployments, host CPU/memory/disk), the apps with their status and
latest deployment, recent deployments, and recent changes (the audit log's successful entries, in words), each
refreshed in place by htmx. Refused requests stay on the audit page: they are not events of the server."""

from __future__ import annotations

from typing import Any

from quart import current_app

from .. import queries
from ..audit_names import action_label, actor_label
from ..blueprint import bp, ctx, render

#: Apps the home lists (by name); the apps page has them all.
HOME_APPS = 8


async def _activity() -> dict[str, Any]:
    c = ctx()
    apps = await queries.list_apps(c)
    return {
        "apps": apps[:HOME_APPS],
        "more_apps": max(0, len(apps) - HOME_APPS),
        "deployments": await queries.recent_deployments(c, limit=8),
        "changes": await queries.recent_audit(current_app.extensions.get("rivetr_audit"), limit=8),
        "action_label": action_label,
        "actor_label": actor_label,
    }


async def _stats_context() -> dict[str, Any]:
    c = ctx()
    return {
        "counts": await queries.dashboard_counts(c),
        "host": queries.host_stats(c.config.server.data_dir),
        "runtime_error": c.runtime_error,
    }


@bp.get("/")
async def dashboard() -> tuple[str, int]:
    return await render(
        "dashboard.html",
        nav="dashboard",
        **await _stats_context(),
        **await _activity(),
    )


@bp.get("/partials/stats")
async def dashboard_stats() -> tuple[str, int]:
    return await render("partials/stats.html", **await _stats_context())


@bp.get("/partials/activity")
async def dashboard_activity() -> tuple[str, int]:
    return await render("partials/activity.html", **await _activity())
