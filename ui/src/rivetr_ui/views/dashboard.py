"""``/``: stats cards (apps, running, failed deployments, host CPU/memory/disk) and the recent-activity feed,
both refreshed in place by htmx. The feed merges deployments with the audit log (logins, API changes)."""

from __future__ import annotations

from typing import Any

from quart import current_app

from .. import queries
from ..blueprint import bp, ctx, render


async def _activity() -> list[dict[str, object]]:
    audit = await queries.recent_audit(current_app.extensions.get("rivetr_audit"))
    return queries.merge_activity(await queries.recent_deployments(ctx()), audit)


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
        recent=await _activity(),
    )


@bp.get("/partials/stats")
async def dashboard_stats() -> tuple[str, int]:
    return await render("partials/stats.html", **await _stats_context())


@bp.get("/partials/activity")
async def dashboard_activity() -> tuple[str, int]:
    return await render("partials/activity.html", recent=await _activity())
