"""Live data for the app page: deployment status changes (WebSocket) and container CPU/memory (JSON).

History of the graphs comes from the metrics API (``/api/apps/<id>/metrics``). Build logs and runtime logs
stream from the core's own WebSockets (``/api/deployments/<id>/logs/stream`` and
``/api/apps/<id>/logs/stream``), which accept the dashboard session with the CSRF token offered as the
subprotocol ``rivetr.csrf.<token>`` (next to ``rivetr.v1``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from quart import abort, websocket

from rivetr_core.contract import RivetrError, requires
from rivetr_core.readmodels import DeploymentSummary, isoformat

from .. import queries
from ..blueprint import bp, ctx, websocket_session

log = logging.getLogger("rivetr.ui")


@bp.websocket("/ws/events")
@requires("read")
async def events_ws() -> None:
    """Every deployment status change (optionally of one app: ``?app_id=``) as JSON, as it happens."""
    if await websocket_session() is None:
        await websocket.close(4401, "not logged in")
        return
    service = ctx().services.get("deployments")
    if service is None:
        await websocket.close(4503, "the deployment service is not running")
        return
    app_id = websocket.args.get("app_id")
    await websocket.accept()
    async for change in service.subscribe():
        if app_id and change.get("app_id") != app_id:
            continue
        await websocket.send(json.dumps(change, default=str))


@bp.get("/apps/<app_id>/stats.json")
async def app_stats(app_id: str) -> dict[str, Any]:
    """A fresh sample of the app's running container, straight from the runtime (the page polls it every few
    seconds while visible; the recorded history comes from ``GET /api/apps/<id>/metrics``)."""
    c = ctx()
    app = await queries.get_app(c, app_id)
    if app is None:
        abort(404, f"App {app_id!r} not found.")
    now: dict[str, Any] | None = None
    error = None
    dep: DeploymentSummary | None = None
    if app.current_deployment_id:
        dep = await queries.get_deployment(c, app.current_deployment_id)
    if dep is not None and dep.container_id:
        try:
            runtime = await c.runtime()
            stats = await asyncio.wait_for(runtime.stats(dep.container_id), 5)
            now = {
                "ts": isoformat(stats.ts),
                "cpu_percent": round(stats.cpu_percent, 2),
                "memory_used": stats.memory_used,
                "memory_limit": stats.memory_limit,
                "net_rx": stats.net_rx,
                "net_tx": stats.net_tx,
            }
        except (RivetrError, TimeoutError) as exc:
            error = str(exc) or type(exc).__name__
        except Exception as exc:  # an engine hiccup must not break the page's polling
            log.debug("stats of %s failed", app.name, exc_info=True)
            error = str(exc) or type(exc).__name__
    else:
        error = "no running container"
    return {"now": now, "error": error}
