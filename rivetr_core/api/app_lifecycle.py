"""``POST /api/apps/{id}/stop|start|restart``: operate the app's serving container in place.

Thin handlers over :class:`~rivetr_core.services.app_lifecycle.AppLifecycle` (which owns the rules, the routes'
503 while stopped and the events), loaded with the first call: an idle control plane never imports it. The audit
log records them as ``app_lifecycle_api.stop_app`` / ``start_app`` / ``restart_app``.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint
from quart_schema import document_response, tag

from rivetr_core.context import rivetr
from rivetr_core.openapi import responds
from rivetr_core.services.app_responses import AppOut

bp = Blueprint("app_lifecycle_api", __name__, url_prefix="/api/apps")


async def _lifecycle(app_id: str, action: str) -> dict[str, Any]:
    from rivetr_core.services.app_lifecycle import AppLifecycle

    ctx = rivetr()
    await getattr(AppLifecycle(ctx), action)(app_id)
    return ctx.services.apps.app_json(*await ctx.services.apps.get(app_id))


@bp.post("/<app_id>/stop")
@responds(503)  # no container engine answers
@tag(["apps"])
@document_response(AppOut)
async def stop_app(app_id: str) -> dict[str, Any]:
    """Stop the app's running container (status ``stopped``); the container and its deployment are kept, so
    ``start`` is quick, and its domains answer 503 meanwhile. It stays stopped across restarts of Rivetr and of
    the engine, until ``start`` or a deployment. 409 ``not_running`` when nothing runs, 409
    ``deployment_in_progress`` while a deployment is queued or running."""
    return await _lifecycle(app_id, "stop")


@bp.post("/<app_id>/start")
@responds(503)  # no container engine answers
@tag(["apps"])
@document_response(AppOut)
async def start_app(app_id: str) -> dict[str, Any]:
    """Start a stopped app's container again and wait for its health check, as a deployment does (status
    ``running``, its domains served again). 409 ``not_stopped`` when it is not stopped, 409
    ``health_check_failed`` (it is stopped again) or ``container_gone`` (deploy it instead)."""
    return await _lifecycle(app_id, "start")


@bp.post("/<app_id>/restart")
@responds(503)  # no container engine answers
@tag(["apps"])
@document_response(AppOut)
async def restart_app(app_id: str) -> dict[str, Any]:
    """Restart the running container in place (same image, env and volumes: not a redeploy), health-checked.
    409 ``not_running`` when the app is stopped (start it) or has nothing running."""
    return await _lifecycle(app_id, "restart")
