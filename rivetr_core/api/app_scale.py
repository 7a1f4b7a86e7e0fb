"""``POST /api/apps/{id}/scale`` and ``GET /api/apps/{id}/replicas``: an app's replicas on one server (issue 23).

Thin handlers over :mod:`rivetr_core.engine.replicas` (which owns the rules: start and health-gate the missing
replicas, or take the extra ones out of the routes, drain and stop them), loaded with the first call. The audit
log records a scale as ``app_scale_api.scale_app``.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from quart import Blueprint
from quart_schema import document_response, tag, validate_request

from rivetr_core.apimodel import ApiModel
from rivetr_core.context import rivetr
from rivetr_core.openapi import responds

bp = Blueprint("app_scale_api", __name__, url_prefix="/api/apps")


class ScaleIn(ApiModel):
    replicas: int = Field(ge=1, le=20, description="The number of containers to run, 1 to 20.")


class ScaleOut(ApiModel):
    replicas: int = Field(description="The app's replica count now.")
    previous: int = Field(description="How many replicas ran (or were set, for an app not running) before.")
    started: list[int] = Field(description="Indexes of the replicas this scale started.")
    stopped: list[int] = Field(description="Indexes of the replicas this scale drained and stopped.")


class ReplicaOut(ApiModel):
    index: int = Field(description="0 is the deployment's own container; 1..N-1 the extra replicas.")
    container_id: str | None
    container_name: str | None
    upstream: str | None = Field(description="Where the proxy reaches it.")
    restart_count: int = Field(description="Crash restarts of this replica.")
    state: str = Field(description="The engine's state: running, exited..., missing, or unknown (no engine).")
    cpu_percent: float | None = Field(
        None, description="CPU use now, in percent of one CPU (the engine's stats); null when it has none."
    )
    memory_used: int | None = Field(None, description="Memory in use now, bytes (null: the engine has none).")
    memory_limit: int | None = Field(None, description="The container's memory limit, bytes (0: none).")


class ReplicasOut(ApiModel):
    replicas: int = Field(description="The app's replica count.")
    items: list[ReplicaOut]
    next: str | None = None


@bp.post("/<app_id>/scale")
@responds(409, 503)  # deployment in progress / a new replica failed its health check; no engine
@tag(["apps"])
@validate_request(ScaleIn)
@document_response(ScaleOut)
async def scale_app(app_id: str, data: ScaleIn) -> dict[str, Any]:
    """Run ``replicas`` containers of the app's current deployment, without a rebuild: the missing ones start
    from its image and join the routes once each passed the health check; the extra ones leave the routes,
    drain and stop. A stopped or not yet deployed app only records the count (its next deployment uses it).
    409 ``deployment_in_progress`` while a deployment is queued or running, 409 ``health_check_failed`` when a
    new replica does not become healthy (nothing changes then); 409 ``managed_by_file`` when the repository's
    rivetr.toml sets ``replicas`` (its next deployment would undo the scale: change the file)."""
    from rivetr_core.engine.replicas import scale

    return await scale(rivetr(), app_id, data.replicas)


@bp.get("/<app_id>/replicas")
@tag(["apps"])
@document_response(ReplicasOut)
async def list_replicas(app_id: str) -> dict[str, Any]:
    """The containers of the app's current deployment, one per replica, with the engine's state and CPU and
    memory use of each (empty when nothing is deployed). Its logs: GET /api/apps/{id}/logs?replica=N."""
    from rivetr_core.engine.replicas import replica_states

    ctx = rivetr()
    items = await replica_states(ctx, app_id, stats=True)
    app, _ = await ctx.services.apps.get(app_id)
    return {"replicas": app.replicas, "items": items, "next": None}
