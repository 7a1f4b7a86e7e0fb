"""``GET /health``: liveness and readiness of the database, the container runtime and the proxy."""

from __future__ import annotations

import asyncio
from typing import Any

from quart import Blueprint, Response, jsonify

from rivetr_core import __version__
from rivetr_core.context import rivetr
from rivetr_core.types import RuntimeUnavailable

bp = Blueprint("health", __name__)


async def runtime_health() -> dict[str, Any]:
    ctx = rivetr()
    try:
        runtime = await ctx.runtime()
    except RuntimeUnavailable as exc:
        return {"ok": False, "error": str(exc)}
    try:
        # Short bound: /health must answer even when the engine hangs.
        info = await asyncio.wait_for(runtime.info(), 3)
        return {"name": info.name, "version": info.version, "ok": True}
    except Exception as exc:
        return {"name": runtime.name, "ok": False, "error": str(exc) or type(exc).__name__}


async def proxy_health() -> dict[str, Any]:
    ctx = rivetr()
    if ctx.proxy is None:
        return {"ok": False, "enabled": False} if ctx.config.proxy.enabled else {"ok": True, "enabled": False}
    try:
        status = await asyncio.wait_for(ctx.proxy.status(), 3)
    except Exception as exc:
        return {"ok": False, "error": str(exc) or type(exc).__name__}
    return {"enabled": True, **status}


@bp.get("/health")
async def health() -> Response:
    """Readiness of every component; 503 when any is not usable."""
    ctx = rivetr()
    db_ok = await ctx.db.ping()
    runtime, proxy = await asyncio.gather(runtime_health(), proxy_health())
    ok = db_ok and runtime["ok"] and proxy["ok"]
    body = {
        "status": "ok" if ok else "degraded",
        "version": __version__,
        "database": "ok" if db_ok else "unavailable",
        "runtime": runtime,
        "proxy": proxy,
    }
    response = jsonify(body)
    response.status_code = 200 if ok else 503
    return response
