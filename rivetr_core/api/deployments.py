"""Deployments API: deploy, list, inspect, build logs (JSON and a WebSocket that replays then follows),
runtime logs of the running container (WebSocket), cancel and rollback.

WebSockets are authenticated by core's guard like the rest of ``/api`` (``Authorization: Bearer <token>``, or
the subprotocols ``rivetr.v1`` + ``rivetr.bearer.<token>`` where headers cannot be set; never ``?token=``;
dashboard sessions as the guard allows). Messages are JSON objects: ``{"ts", "line"}``
per log line, ``{"event": "status", "status", "ts"}`` between the lines where the deployment's status changed
(while its pipeline runs), then ``{"event": "end", "status", "error"}`` when a build log ends.
"""

from __future__ import annotations

import json
from typing import Any

from quart import Blueprint, request, websocket
from quart_schema import document_request, document_response, tag, validate_querystring
from sqlmodel import select

from rivetr_core.context import rivetr
from rivetr_core.contract.errors import NotFound
from rivetr_core.db import isoformat
from rivetr_core.engine.logs import StatusMark
from rivetr_core.engine.service import DeploymentService
from rivetr_core.errors import ApiError, not_found
from rivetr_core.models.apps import App, Deployment
from rivetr_core.openapi import optional_body
from rivetr_core.pagination import PageQuery, envelope, keyset_page, page_model

from .appschema import DeployIn

bp = Blueprint("deployments_api", __name__)


def deployment_json(dep: Deployment) -> dict[str, Any]:
    duration = None
    if dep.started_at and dep.finished_at:
        duration = round((dep.finished_at - dep.started_at).total_seconds() * 1000, 1)
    return {
        "id": dep.id,
        "app_id": dep.app_id,
        "status": dep.status,
        "trigger": dep.trigger,
        "requested_commit": dep.requested_commit,
        "commit_sha": dep.commit_sha,
        "commit_message": dep.commit_message,
        "rollback_of": dep.rollback_of,
        "image": dep.image,
        "image_removed": dep.image_removed,
        "container_id": dep.container_id,
        "upstream": dep.upstream,
        "error": dep.error,
        "log_tail": dep.log_tail,
        "steps": dep.steps,
        "restart_count": dep.restart_count,
        "created_at": isoformat(dep.created_at),
        "started_at": isoformat(dep.started_at),
        "finished_at": isoformat(dep.finished_at),
        "duration_ms": duration,
    }


def _service() -> DeploymentService:
    return rivetr().services.deployments


@bp.post("/api/apps/<app_id>/deploy")
@tag(["deployments"])
@document_request(DeployIn)
@optional_body
async def deploy(app_id: str) -> tuple[dict[str, Any], int]:
    """Queue a deployment of the branch head (or ``commit``); 202 with the deployment (``queued``)."""
    raw = await request.get_data(as_text=True)
    try:
        body = (json.loads(raw) if raw.strip() else None) or {}
    except ValueError:
        raise ApiError(400, "request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(
            422,
            "request body must be a JSON object",
            details=[{"field": None, "message": "expected an object"}],
        )
    from pydantic import ValidationError

    try:
        data = DeployIn.model_validate(body)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or None
        message = str(err["msg"]).removeprefix("Value error, ")
        raise ApiError(
            422,
            f"{field}: {message}",
            code="validation_error",
            details=[{"field": field, "message": message}],
        ) from None
    dep = await rivetr().services.apps.deploy(app_id, commit=data.commit, trigger="api")
    return deployment_json(dep), 202


@bp.get("/api/apps/<app_id>/deployments")
@tag(["deployments"])
@validate_querystring(PageQuery)
@document_response(page_model(dict[str, Any], "DeploymentPage"))
async def list_deployments(app_id: str, query_args: PageQuery) -> dict[str, Any]:
    """The app's deployments, newest first, a page at a time (``{"items", "next"}``; pass ``next`` back as
    ``?cursor=``)."""
    async with rivetr().db.session() as session:
        if await session.get(App, app_id) is None:
            raise not_found("app", app_id)
        rows, next_cursor = await keyset_page(
            session,
            select(Deployment).where(Deployment.app_id == app_id),
            Deployment,
            query_args,
            newest_first=True,
        )
    return envelope([deployment_json(d) for d in rows], next_cursor)


@bp.get("/api/deployments/<deployment_id>")
@tag(["deployments"])
async def get_deployment(deployment_id: str) -> dict[str, Any]:
    return deployment_json(await _service().get_deployment(deployment_id))


@bp.get("/api/deployments/<deployment_id>/logs")
@tag(["deployments"])
async def get_logs(deployment_id: str) -> list[dict[str, Any]]:
    """The build log so far as ``[{"ts", "line"}]``."""
    service = _service()
    await service.get_deployment(deployment_id)
    return [{"ts": isoformat(ts), "line": line} for ts, line in await service.logs.lines(deployment_id)]


@bp.post("/api/deployments/<deployment_id>/cancel")
@tag(["deployments"])
async def cancel(deployment_id: str) -> dict[str, Any]:
    """Cancel a deployment that has not started switching; 409 otherwise."""
    return deployment_json(await _service().cancel(deployment_id))


@bp.post("/api/deployments/<deployment_id>/rollback")
@tag(["deployments"])
async def rollback(deployment_id: str) -> tuple[dict[str, Any], int]:
    """202 with a new deployment reusing this deployment's image (no rebuild)."""
    return deployment_json(await rivetr().services.apps.rollback(deployment_id)), 202


# --------------------------------------------------------------------------------------------- websockets
@bp.websocket("/api/deployments/<deployment_id>/logs/stream")
async def stream_build_log(deployment_id: str) -> None:
    service = _service()
    try:
        await service.get_deployment(deployment_id)
    except NotFound:
        await websocket.close(4404, f"deployment {deployment_id} not found")
        return
    await websocket.accept()
    async for item in service.follow_logs(deployment_id):
        if isinstance(item, StatusMark):
            message = {"event": "status", "status": item.status, "ts": isoformat(item.ts)}
        else:
            message = {"ts": isoformat(item[0]), "line": item[1]}
        await websocket.send(json.dumps(message))
    dep = await service.get_deployment(deployment_id)
    await websocket.send(json.dumps({"event": "end", "status": dep.status, "error": dep.error}))
    await websocket.close(1000)


@bp.websocket("/api/apps/<app_id>/logs/stream")
async def stream_app_logs(app_id: str) -> None:
    """Follow the stdout/stderr of the app's running container (last 100 lines first)."""
    ctx = rivetr()
    app, dep = await _service().app_and_current(app_id)
    if app is None:
        await websocket.close(4404, f"app {app_id} not found")
        return
    if dep is None or not dep.container_id:
        await websocket.close(4409, "the app has no running container")
        return
    runtime = await ctx.runtime()
    await websocket.accept()
    tail = int(websocket.args.get("tail", "100")) if websocket.args.get("tail", "100").isdigit() else 100
    async for entry in runtime.logs(dep.container_id, tail=tail, follow=True):
        await websocket.send(
            json.dumps({"ts": isoformat(entry.ts), "line": entry.line, "stream": entry.stream})
        )
    await websocket.send(json.dumps({"event": "end"}))
    await websocket.close(1000)
