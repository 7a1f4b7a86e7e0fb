"""``/api/services``: managed services (databases, one-click services); see docs/services.md.

Thin handlers over :class:`~rivetr_core.services.managed.ServiceService` (``ctx.services.managed``), which owns
the rules and loads with the first request here: this module imports only pydantic, Quart and core pieces the
server has loaded anyway, so an idle control plane never loads the feature.

* ``POST /api/services`` → 201 with the service, status ``starting``: its image is pulled, its container
  started and its readiness command run in the background (``running`` when ready, else ``failed`` with
  ``error``). 422 for an unknown type or version (``details`` lists the available ones), 409 for a name an app
  or a service has, or a public port in use.
* ``GET /api/services[?project_id=&type=&tag=]`` (list envelope), ``GET/PUT/DELETE /api/services/{id}``.
* ``POST /api/services/{id}/start|stop|restart``; ``GET /api/services/{id}/logs?tail=&source=``, the WebSocket
  ``/api/services/{id}/logs/stream?tail=`` (like an app's) and ``GET /api/services/{id}/metrics``.
* ``POST /api/services/{id}/rotate-credentials`` (body optional: ``{"redeploy_apps": true}``) changes the password
  in the service, then redeploys the linked apps that run, if the caller may deploy.

Credentials and the connection URL are masked unless ``?reveal=true``, which needs ``secrets.reveal`` (the team's
owners and admins; another role gets 403).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator
from quart import Blueprint, Response, request, websocket
from quart_schema import document_request, document_response, tag, validate_querystring, validate_request

from rivetr_core.apimodel import ApiModel
from rivetr_core.authz.enforce import reveal_allowed
from rivetr_core.authz.permissions import DEPLOY
from rivetr_core.context import rivetr
from rivetr_core.contract.errors import Conflict, NotFound
from rivetr_core.openapi import optional_body, responds
from rivetr_core.pagination import PageQuery, envelope, page_model
from rivetr_core.services.managed_responses import (
    RotateOut,
    ServiceLogsOut,
    ServiceOut,
    dump,
)
from rivetr_core.tags import TAG_FILTER_HELP, TAGS_HELP, TAGS_SCHEMA, query_tags
from rivetr_core.units import parse_cpus, parse_size
from rivetr_core.validation import NAME_SCHEMA, check_name

from .bodies import optional_json
from .system import AppMetricsOut, RangeQuery

bp = Blueprint("services_api", __name__, url_prefix="/api/services")

_ENV_KEY = r"^[A-Za-z_][A-Za-z0-9_]*$"
_TYPE_HELP = "A catalogue template: postgres, mysql, mariadb, redis ... (GET /api/templates)."
_PORT_HELP = (
    "Host port (1024-65535, every interface) forwarded to the service; null: reachable only by apps on its "
    "project network (the default; a public database is exposed to the internet)."
)
_MEMORY_HELP = 'Bytes or a size ("512m", "2g"); at least 16m; null: unlimited.'
_CPU_HELP = 'CPUs, e.g. 0.5 or "500m"; null: unlimited.'


class _Limits(ApiModel):
    @field_validator("cpu_limit", mode="before", check_fields=False)
    @classmethod
    def _cpus(cls, v: Any) -> float | None:
        return parse_cpus(v)

    @field_validator("memory_limit", mode="before", check_fields=False)
    @classmethod
    def _memory(cls, v: Any) -> int | None:
        size = parse_size(v)
        if size is not None and not 16 * 1024**2 <= size <= 2**50:
            raise ValueError("must be at least 16m and at most 1024t")
        return size


class ServiceIn(_Limits):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        description="DNS-safe, unique across apps and services: the host name apps use.",
        json_schema_extra=NAME_SCHEMA,
    )
    type: str = Field(max_length=63, description=_TYPE_HELP)
    version: str | None = Field(None, max_length=64, description="One of the template's; default its first.")
    project_id: str | None = Field(None, max_length=32)
    memory_limit: int | str | None = Field(None, description=_MEMORY_HELP)
    cpu_limit: float | str | None = Field(None, description=_CPU_HELP)
    public_port: int | None = Field(None, ge=1024, le=65535, description=_PORT_HELP)
    environment: dict[str, str] = Field(
        default_factory=dict,
        description="Extra container environment; a key the template sets is replaced.",
        json_schema_extra={"propertyNames": {"pattern": _ENV_KEY}},
    )
    tags: list[str] = Field(default_factory=list, description=TAGS_HELP, json_schema_extra=TAGS_SCHEMA)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_name(v)

    @field_validator("environment")
    @classmethod
    def _env(cls, v: dict[str, str]) -> dict[str, str]:
        return _check_env(v)


class ServiceUpdate(_Limits):
    """Only the fields present change; the container is then recreated on the same volumes."""

    model_config = ConfigDict(extra="forbid")

    # Absent: unchanged; null is refused (a version and an environment always exist), so the type is not nullable.
    version: str = Field(None, max_length=64, description="An upgrade (rolled back if not ready).")  # type: ignore[assignment]
    memory_limit: int | str | None = Field(None, description=_MEMORY_HELP)
    cpu_limit: float | str | None = Field(None, description=_CPU_HELP)
    public_port: int | None = Field(None, ge=1024, le=65535, description=_PORT_HELP + " null closes it.")
    environment: dict[str, str] = Field(
        None,  # type: ignore[arg-type]
        description="Replaces the extra environment.",
        json_schema_extra={"propertyNames": {"pattern": _ENV_KEY}},
    )
    tags: list[str] = Field(
        None,  # type: ignore[arg-type]
        description=TAGS_HELP + " Replaces them all; changing only tags leaves the container alone.",
        json_schema_extra=TAGS_SCHEMA,
    )

    @field_validator("environment")
    @classmethod
    def _env(cls, v: dict[str, str]) -> dict[str, str]:
        return _check_env(v)


def _check_env(env: dict[str, str]) -> dict[str, str]:
    import re

    for key in env:
        if not re.match(_ENV_KEY, key):
            raise ValueError(f"{key!r} is not a valid environment variable name")
    return env


class ServiceListQuery(PageQuery):
    project_id: str | None = Field(None, max_length=32, description="Only this project's services.")
    type: str | None = Field(None, max_length=63, description="Only services of this template.")
    tag: list[str] | str | None = Field(None, description=TAG_FILTER_HELP)


class RevealQuery(ApiModel):
    model_config = ConfigDict(extra="forbid")

    reveal: bool = Field(
        False, description="Real credentials and URL (team owners and admins: secrets.reveal)."
    )


class DeleteQuery(ApiModel):
    model_config = ConfigDict(extra="forbid")

    keep_volumes: bool = Field(False, description="Keep the data (engine volumes).")
    force: bool = Field(False, description="Delete even when apps are linked (their links go too).")


class RotateIn(ApiModel):
    model_config = ConfigDict(extra="forbid")

    redeploy_apps: bool = Field(
        True,
        description="Redeploy the linked apps that run (or are being deployed) so they get the new password; "
        "false leaves them on the old one until their next deployment.",
    )


class LogsQuery(ApiModel):
    model_config = ConfigDict(extra="forbid")

    tail: int = Field(100, ge=0, le=100_000, description="Lines, newest last.")
    source: Literal["container", "events"] = Field(
        "container",
        description="container: its output (Rivetr's events until it has a container); events: what Rivetr "
        "did to it (image pull progress, starts, readiness, rotations), kept in memory since Rivetr started.",
    )


def _managed() -> Any:
    return rivetr().services.managed


async def _reveal(asked: bool) -> bool:
    return reveal_allowed(asked)  # team owners and admins (secrets.reveal)


def _out(data: dict[str, Any]) -> dict[str, Any]:
    return dump(ServiceOut, data)


@bp.get("")
@tag(["services"])
@validate_querystring(ServiceListQuery)
@document_response(page_model(ServiceOut, "ServicePage"))
async def list_services(query_args: ServiceListQuery) -> dict[str, Any]:
    """Services in creation order, a page at a time (``{"items", "next"}``), credentials masked."""
    items, next_cursor = await _managed().page_json(
        query_args,
        project_id=query_args.project_id,
        service_type=query_args.type,
        tags=query_tags(query_args.tag),
    )
    return envelope([_out(i) for i in items], next_cursor)


@bp.post("")
@tag(["services"])
@responds(404)
@validate_request(ServiceIn)
@document_response(ServiceOut, 201)
async def create_service(data: ServiceIn) -> tuple[dict[str, Any], int]:
    """Create a service and start it in the background (status ``starting``, then ``running`` or
    ``failed``)."""
    service = _managed()
    row = await service.create(data.model_dump())
    return _out(await service.detail(row.id)), 201


@bp.get("/<service_id>")
@tag(["services"])
@responds(403)
@validate_querystring(RevealQuery)
@document_response(ServiceOut)
async def get_service(service_id: str, query_args: RevealQuery) -> dict[str, Any]:
    reveal = await _reveal(query_args.reveal)
    return _out(await _managed().detail(service_id, reveal=reveal))


@bp.put("/<service_id>")
@tag(["services"])
@validate_request(ServiceUpdate)
@document_response(ServiceOut)
async def update_service(service_id: str, data: ServiceUpdate) -> dict[str, Any]:
    """Upgrade, change limits, public port or environment: the container is recreated on the same volumes
    and checked again (status ``starting``); an upgrade that does not become ready is rolled back."""
    service = _managed()
    fields = {k: getattr(data, k) for k in data.model_fields_set}
    await service.update(service_id, fields)
    return _out(await service.detail(service_id))


@bp.delete("/<service_id>")
@tag(["services"])
@validate_querystring(DeleteQuery)
async def delete_service(service_id: str, query_args: DeleteQuery) -> Response:
    """Remove the container and (unless ``keep_volumes``) the data; 409 naming the linked apps unless
    ``force``."""
    await _managed().delete(service_id, keep_volumes=query_args.keep_volumes, force=query_args.force)
    return Response(status=204)


async def _action(service_id: str, action: str) -> dict[str, Any]:
    service = _managed()
    await getattr(service, action)(service_id)
    return _out(await service.detail(service_id))


@bp.post("/<service_id>/start")
@tag(["services"])
@document_response(ServiceOut)
async def start_service(service_id: str) -> dict[str, Any]:
    """Start it (status ``starting``; ``running`` once ready)."""
    return await _action(service_id, "start")


@bp.post("/<service_id>/stop")
@tag(["services"])
@document_response(ServiceOut)
async def stop_service(service_id: str) -> dict[str, Any]:
    """Stop it (its data stays); it stays stopped across restarts of the engine and of Rivetr."""
    return await _action(service_id, "stop")


@bp.post("/<service_id>/restart")
@tag(["services"])
@document_response(ServiceOut)
async def restart_service(service_id: str) -> dict[str, Any]:
    return await _action(service_id, "restart")


@bp.post("/<service_id>/rotate-credentials")
@tag(["services"])
@document_request(RotateIn)
@optional_body
@document_response(RotateOut)
async def rotate_credentials(service_id: str) -> dict[str, Any]:
    """A new password, applied in the service and stored, then the linked apps that run are redeployed (the
    same deploy as ``POST /api/apps/{id}/deploy``, trigger ``rotate-credentials``) so they get it:
    ``redeployed`` lists their deployments, ``not_redeployed`` the other linked apps with why (``redeploy_off``,
    ``not_deployed``, ``app_stopped``, ``permission_denied`` without the ``deploy`` permission, ...)."""
    data = await optional_json(RotateIn)
    principal = getattr(request, "rivetr_authz", None)
    may_deploy = principal is not None and principal.allows(DEPLOY)
    result = await _managed().rotate_credentials(
        service_id, redeploy_apps=data.redeploy_apps, may_deploy=may_deploy
    )
    return dump(RotateOut, result)


@bp.get("/<service_id>/logs")
@tag(["services"])
@validate_querystring(LogsQuery)
@document_response(ServiceLogsOut)
async def service_logs(service_id: str, query_args: LogsQuery) -> dict[str, Any]:
    """The container's last lines; before it has one (pulling), or with ``source=events``, what Rivetr did."""
    items = await _managed().logs(service_id, query_args.tail, events=query_args.source == "events")
    return dump(ServiceLogsOut, {"items": items, "next": None})


@bp.get("/<service_id>/metrics")
@tag(["metrics"])
@validate_querystring(RangeQuery)
@document_response(AppMetricsOut)
async def service_metrics(service_id: str, query_args: RangeQuery) -> dict[str, Any]:
    """The service's container over time (CPU %, memory, network), like an app's (``app_id`` is the
    service's id)."""
    from rivetr_core.history.query import parse_range

    data = await _managed().metrics(service_id, parse_range(query_args.range), query_args.points)
    return AppMetricsOut.model_validate({**data, "range": query_args.range}).model_dump(
        mode="json", exclude_unset=True
    )


@bp.websocket("/<service_id>/logs/stream")
async def stream_service_logs(service_id: str) -> None:
    """Follow the stdout/stderr of the service's container (last 100 lines first, ``?tail=``)."""
    arg = websocket.args.get("tail", "100")
    tail = int(arg) if arg.isdigit() else 100
    try:
        entries = await _managed().follow_logs(service_id, tail)
    except NotFound:
        await websocket.close(4404, f"service {service_id} not found")
        return
    except Conflict as exc:
        await websocket.close(4409, exc.message)
        return
    await websocket.accept()
    async for entry in entries:
        await websocket.send(json.dumps(entry))
    await websocket.send(json.dumps({"event": "end"}))
    await websocket.close(1000)
