"""Resource history for the dashboard graphs and the CLI.

* ``GET /api/apps/{id}/metrics?range=1h`` — the app's containers (CPU %, memory, network), summed per app.
* ``GET /api/system/metrics?range=1h`` — the host (CPU %, memory, disk of the data dir) plus the latest sample.
* ``POST /api/system/cleanup`` — run the cleanup now (old images, dangling images this instance built, old
  build logs) and return its report; ``GET /api/system/cleanup`` — the last report.
* ``GET /api/apps/{id}/logs?tail=100`` — the last lines of the app's running container (the CLI's
  ``rivetr logs``; following is the WebSocket ``/api/apps/{id}/logs/stream``).

The metrics endpoints read what the sampler stored (``[metrics] sample_interval``); they never call the container engine.
``range`` is ``<n>m|h|d`` (15m, 1h, 6h, 24h, 7d, 30d…); points are averaged into at most ``points`` buckets.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator
from quart import Blueprint
from quart_schema import tag, validate_querystring

from rivetr_core.context import rivetr
from rivetr_core.db.engine import isoformat
from rivetr_core.errors import ApiError, not_found
from rivetr_core.history.query import RANGE_PATTERN, parse_range, series
from rivetr_core.models.apps import App, Deployment
from rivetr_core.openapi import responds

bp = Blueprint("system_api", __name__)


class RangeQuery(BaseModel):
    range: str = Field(
        "1h",
        description="Time span: 15m, 1h, 6h, 24h, 7d, 30d (any <n>m|h|d up to 366d).",
        json_schema_extra={"pattern": RANGE_PATTERN},
    )
    points: int = Field(300, ge=2, le=2000, description="Maximum number of points returned.")

    @field_validator("range")
    @classmethod
    def _range(cls, v: str) -> str:
        parse_range(v)
        return v


@bp.get("/api/apps/<app_id>/metrics")
@tag(["metrics"])
@validate_querystring(RangeQuery)
async def app_metrics(app_id: str, query_args: RangeQuery) -> dict[str, Any]:
    """``{"app_id", "range", "points": [{"ts", "cpu_percent", "memory_used", "memory_limit", "net_rx",
    "net_tx", "containers"}], "latest": {...} | null}``; 404 for an unknown app."""
    ctx = rivetr()
    async with ctx.db.session() as session:
        if await session.get(App, app_id) is None:
            raise not_found("app", app_id)
    points = await series(ctx.db, "app", app_id, parse_range(query_args.range), query_args.points)
    sampler = ctx.services.get("sampler")
    latest = dict(sampler.last_apps.get(app_id) or {}) if sampler else {}
    latest.pop("name", None)
    return {"app_id": app_id, "range": query_args.range, "points": points, "latest": latest or None}


@bp.get("/api/system/metrics")
@tag(["metrics"])
@validate_querystring(RangeQuery)
async def system_metrics(query_args: RangeQuery) -> dict[str, Any]:
    """``{"range", "points": [{"ts", "cpu_percent", "memory_used", "memory_limit", "disk_percent"}],
    "latest": {"cpu_percent", "memory_used_bytes", "memory_total_bytes", "disk_used_percent", "load1"},
    "apps": {app_id: {...latest...}}}``."""
    ctx = rivetr()
    points = await series(ctx.db, "host", None, parse_range(query_args.range), query_args.points)
    sampler = ctx.services.get("sampler")
    return {
        "range": query_args.range,
        "points": points,
        "latest": dict(sampler.last_host) if sampler and sampler.last_host else None,
        "apps": dict(sampler.last_apps) if sampler else {},
    }


class TailQuery(BaseModel):
    tail: int = Field(100, ge=0, le=100_000, description="Lines of history, newest last.")


@bp.get("/api/apps/<app_id>/logs")
@responds(409, 503)
@tag(["apps"])
@validate_querystring(TailQuery)
async def app_logs(app_id: str, query_args: TailQuery) -> list[dict[str, Any]]:
    """``[{"ts", "stream", "line"}]`` from the app's running container; 404 unknown app, 409 nothing running."""
    ctx = rivetr()
    async with ctx.db.session() as session:
        app = await session.get(App, app_id)
        if app is None:
            raise not_found("app", app_id)
        current = (
            await session.get(Deployment, app.current_deployment_id) if app.current_deployment_id else None
        )
    container_id = current.container_id if current else None
    if not container_id:
        raise ApiError(409, "the app has no running container", code="no_container")
    runtime = await ctx.runtime()
    out = []
    async for entry in runtime.logs(container_id, tail=query_args.tail, follow=False):
        out.append({"ts": isoformat(entry.ts), "stream": entry.stream, "line": entry.line})
    return out


@bp.post("/api/system/cleanup")
@responds(503)
@tag(["system"])
async def run_cleanup() -> dict[str, Any]:
    """Run the cleanup now: ``{"images_removed": [...], "pruned_images", "space_reclaimed",
    "build_logs_removed", "prune_skipped", "errors": [...], "seconds"}``. Keeps ``[cleanup] keep_images`` per
    app; ``pruned_images`` counts the dangling images this instance built (other programs' are never touched;
    the engine's build cache only with ``[cleanup] prune_build_cache``). The prune is skipped while a deployment
    runs (``prune_skipped`` says so, null otherwise)."""
    service = rivetr().services.get("cleanup")
    if service is None:
        raise ApiError(503, "the cleanup service is not running", code="unavailable")
    report: dict[str, Any] = await service.run_once(reason="api")
    return report


@bp.get("/api/system/cleanup")
@tag(["system"])
async def last_cleanup() -> dict[str, Any]:
    """The report of the last cleanup run (``{"report": null}`` before the first)."""
    service = rivetr().services.get("cleanup")
    return {"report": getattr(service, "last_report", None)}
