"""``GET /health``: liveness and readiness of the database, the container runtime and the proxy.

Anyone may ask, so an anonymous caller gets only ``status`` and one word per component (``ok``,
``unavailable``, ``disabled``): no version, paths, pids, ports or error texts (issue 14 hole 7). A credential
(admin token, API token, dashboard session) adds ``version`` and ``details``. The checks are shared and cached
for :data:`CACHE_SECONDS`, so a flood of probes costs one check per window, never one per request.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from quart import Blueprint, Response, current_app, jsonify
from quart_schema import document_response

from rivetr_core import __version__
from rivetr_core.auth import bearer_token, resolve_principal
from rivetr_core.context import rivetr
from rivetr_core.contract import RuntimeUnavailable
from rivetr_core.openapi import security

bp = Blueprint("health", __name__)

CACHE_SECONDS = 2.0


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


async def _check() -> dict[str, Any]:
    ctx = rivetr()
    db_ok, runtime, proxy = await asyncio.gather(ctx.db.ping(), runtime_health(), proxy_health())
    ok = db_ok and runtime["ok"] and proxy["ok"]

    def state(info: dict[str, Any]) -> str:
        if info.get("enabled") is False and info["ok"]:
            return "disabled"
        return "ok" if info["ok"] else "unavailable"

    return {
        "status": "ok" if ok else "degraded",
        "database": "ok" if db_ok else "unavailable",
        "runtime": state(runtime),
        "proxy": state(proxy),
        # A failed plugin leaves the server up (and status ok): its state and message are shown here.
        "details": {"runtime": runtime, "proxy": proxy, "plugins": ctx.plugins.states()},
    }


async def cached_check() -> dict[str, Any]:
    """The latest check, at most :data:`CACHE_SECONDS` old; concurrent callers await the same one."""
    loop = asyncio.get_running_loop()
    cache: dict[str, Any] = current_app.extensions.setdefault("rivetr_health_cache", {})
    pending: asyncio.Future[dict[str, Any]] | None = cache.get("future")
    if pending is None or (pending.done() and loop.time() - cache["at"] > CACHE_SECONDS):
        pending = asyncio.ensure_future(_check())
        cache["future"], cache["at"] = pending, loop.time()
    # shield: a client hanging up must not cancel the check the other callers share
    return await asyncio.shield(pending)


class HealthOut(BaseModel):
    """Each component's state; with a credential also ``version`` and ``details``."""

    model_config = ConfigDict(extra="allow")
    status: Literal["ok", "degraded"]
    database: str
    runtime: str
    proxy: str


@bp.get("/health")
@security([{}, {"bearer": []}])  # anyone; a credential adds the details
@document_response(HealthOut, 200)
@document_response(HealthOut, 503)
async def health() -> Response:
    """Readiness of every component (503 when any is not usable); details with a token."""
    ctx = rivetr()
    result = await cached_check()
    body = {key: value for key, value in result.items() if key != "details"}
    verifiers = current_app.extensions.get("rivetr_auth_verifiers", [])
    if await resolve_principal(bearer_token(), ctx.admin_token, verifiers) is not None:
        body = {"status": body.pop("status"), "version": __version__, **body, "details": result["details"]}
    response = jsonify(body)
    response.status_code = 200 if result["status"] == "ok" else 503
    return response
