"""Resource history for the dashboard graphs and the CLI.

* ``GET /api/apps/{id}/metrics?range=1h`` — the app's containers (CPU %, memory, network), summed per app.
* ``GET /api/system/metrics?range=1h`` — the host (CPU %, memory, disk of the data dir) plus the latest sample.

Both read what the sampler stored (``[metrics] sample_interval``); they never call the container engine.
``range`` is ``<n>m|h|d`` (15m, 1h, 6h, 24h, 7d, 30d…); points are averaged into at most ``points`` buckets.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator
from quart import Blueprint
from quart_schema import tag, validate_querystring
from sqlalchemy import text

from rivetr_core.context import rivetr
from rivetr_core.errors import not_found
from rivetr_core.history.query import parse_range, series

bp = Blueprint("system_api", __name__)


class RangeQuery(BaseModel):
    range: str = Field("1h", description="Time span: 15m, 1h, 6h, 24h, 7d, 30d (any <n>m|h|d up to 366d).")
    points: int = Field(300, ge=2, le=2000, description="Maximum number of points returned.")

    @field_validator("range")
    @classmethod
    def _range(cls, v: str) -> str:
        parse_range(v)
        return v


async def _app_exists(app_id: str) -> bool | None:
    """True/False from the apps table; None when the apps area is not installed."""
    try:
        async with rivetr().db.engine.connect() as conn:
            row = (await conn.execute(text("SELECT 1 FROM apps WHERE id = :id"), {"id": app_id})).first()
    except Exception:
        return None
    return row is not None


@bp.get("/api/apps/<app_id>/metrics")
@tag(["metrics"])
@validate_querystring(RangeQuery)
async def app_metrics(app_id: str, query_args: RangeQuery) -> dict[str, Any]:
    """``{"app_id", "range", "points": [{"ts", "cpu_percent", "memory_used", "memory_limit", "net_rx",
    "net_tx", "containers"}], "latest": {...} | null}``; 404 for an unknown app."""
    ctx = rivetr()
    if await _app_exists(app_id) is False:
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
