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

from rivetr_core.apimodel import ApiModel
from rivetr_core.context import rivetr
from rivetr_core.contract.errors import Conflict, NotFound
from rivetr_core.db import isoformat
from rivetr_core.engine.logs import StatusMark
from rivetr_core.engine.service import DeploymentService
from rivetr_core.openapi import optional_body
from rivetr_core.pagination import PageQuery, envelope, page_model
from rivetr_core.services.deployment_responses import DeploymentOut, deployment_json, stack_deployment_json

from .appschema import DeployIn
from .bodies import optional_json

bp = Blueprint("deployments_api", __name__)


class BuildLogLineOut(ApiModel):
    ts: str
    line: str


def _service() -> DeploymentService:
    return rivetr().services.deployments


@bp.post("/api/apps/<app_id>/deploy")
@tag(["deployments"])
@document_request(DeployIn)
@optional_body
@document_response(DeploymentOut, 202)
async def deploy(app_id: str) -> tuple[dict[str, Any], int]:
    """Queue a deployment of the branch head (or ``commit``; an image app: its image, or ``image``, which
    it then keeps); 202 with the deployment (``queued``)."""
    data = await optional_json(DeployIn)
    dep = await rivetr().services.apps.deploy(
        app_id,
        commit=data.commit,
        trigger="api",
        image=data.image,
        no_cache=data.no_cache,
        started_by=_caller(),
    )
    return deployment_json(dep), 202


def _caller() -> str | None:
    """Who is asking, as the audit log names them (``user:<name>``, ``token:<owner>/<name>``, ``admin``)."""
    return getattr(request, "rivetr_principal", None)


@bp.get("/api/apps/<app_id>/deployments")
@tag(["deployments"])
@validate_querystring(PageQuery)
@document_response(page_model(DeploymentOut, "DeploymentPage"))
async def list_deployments(app_id: str, query_args: PageQuery) -> dict[str, Any]:
    """The app's deployments, newest first, a page at a time (``{"items", "next"}``; pass ``next`` back as
    ``?cursor=``)."""
    rows, next_cursor = await _service().list_for_app(app_id, query_args)
    return envelope([deployment_json(d) for d in rows], next_cursor)


async def _stacks_if_stack_deployment(deployment_id: str) -> Any | None:
    """The stacks service when ``deployment_id`` is a compose stack's deployment (an app's deployment never
    loads the stacks feature: the check is raw SQL in the deployments service)."""
    if await _service().is_stack_deployment(deployment_id):
        return rivetr().services.stacks
    return None


@bp.get("/api/deployments/<deployment_id>")
@tag(["deployments"])
@document_response(DeploymentOut)
async def get_deployment(deployment_id: str) -> dict[str, Any]:
    """An app's deployment or a compose stack's (``stack_id`` set)."""
    stacks = await _stacks_if_stack_deployment(deployment_id)
    if stacks is not None:
        return stack_deployment_json(await stacks.get_deployment(deployment_id))
    return deployment_json(await _service().get_deployment(deployment_id))


@bp.get("/api/deployments/<deployment_id>/logs")
@tag(["deployments"])
@document_response(list[BuildLogLineOut])
async def get_logs(deployment_id: str) -> list[dict[str, Any]]:
    """The build log so far as ``[{"ts", "line"}]``."""
    service: Any = await _stacks_if_stack_deployment(deployment_id) or _service()
    await service.get_deployment(deployment_id)
    lines = await service.logs.lines(deployment_id)
    return [BuildLogLineOut(ts=isoformat(ts) or "", line=line).model_dump() for ts, line in lines]


@bp.post("/api/deployments/<deployment_id>/cancel")
@tag(["deployments"])
@document_response(DeploymentOut)
async def cancel(deployment_id: str) -> dict[str, Any]:
    """Cancel a deployment that has not started switching; 409 otherwise."""
    stacks = await _stacks_if_stack_deployment(deployment_id)
    if stacks is not None:
        return stack_deployment_json(await stacks.cancel(deployment_id))
    return deployment_json(await _service().cancel(deployment_id))


@bp.post("/api/deployments/<deployment_id>/rollback")
@tag(["deployments"])
@document_response(DeploymentOut, 202)
async def rollback(deployment_id: str) -> tuple[dict[str, Any], int]:
    """202 with a new deployment reusing this deployment's image (no rebuild); for a stack's deployment, its
    compose file and images."""
    stacks = await _stacks_if_stack_deployment(deployment_id)
    if stacks is not None:
        dep = await stacks.get_deployment(deployment_id)
        return stack_deployment_json(await stacks.rollback(dep.stack_id, deployment_id)), 202
    return deployment_json(await rivetr().services.apps.rollback(deployment_id, started_by=_caller())), 202


# --------------------------------------------------------------------------------------------- websockets
@bp.websocket("/api/deployments/<deployment_id>/logs/stream")
async def stream_build_log(deployment_id: str) -> None:
    service: Any = await _stacks_if_stack_deployment(deployment_id) or _service()
    try:
        await service.get_deployment(deployment_id)
    except NotFound:
        await websocket.close(4404, f"deployment {deployment_id} not found")
        return
    await websocket.accept()
    async for item in service.logs.follow(deployment_id):
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
    """Follow the stdout/stderr of the app's running container (last 100 lines first); ``?replica=N``: that
    replica's container (default 0)."""
    arg = websocket.args.get("tail", "100")
    tail = int(arg) if arg.isdigit() else 100
    replica_arg = websocket.args.get("replica", "0")
    replica = int(replica_arg) if replica_arg.isdigit() else 0
    try:
        entries = await _service().container_logs(app_id, tail=tail, follow=True, replica=replica)
    except NotFound as exc:
        await websocket.close(4404, exc.message if replica else f"app {app_id} not found")
        return
    except Conflict as exc:
        await websocket.close(4409, exc.message)
        return
    await websocket.accept()
    async for entry in entries:
        await websocket.send(
            json.dumps({"ts": isoformat(entry.ts), "line": entry.line, "stream": entry.stream})
        )
    await websocket.send(json.dumps({"event": "end"}))
    await websocket.close(1000)
