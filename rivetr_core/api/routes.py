"""``/api/routes``: manual proxy routes (app routes appear here too, with their ``app_id``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator
from quart import Blueprint, Response
from quart_schema import document_response, tag, validate_querystring, validate_request, validate_response

from rivetr_core.context import rivetr
from rivetr_core.errors import ApiError, not_found
from rivetr_core.pagination import PageQuery, envelope, list_page, page_model
from rivetr_core.routing import RouteService, dashboard_domain_taken, route_json
from rivetr_core.validation import DOMAIN_SCHEMA, UPSTREAM_PATTERN, check_domain, check_upstream

bp = Blueprint("routes_api", __name__, url_prefix="/api/routes")


class RouteIn(BaseModel):
    domain: str = Field(
        description="Host name, exact (a.example.com) or wildcard (*.example.com).",
        json_schema_extra=DOMAIN_SCHEMA,
    )
    upstreams: list[str] = Field(
        min_length=1,
        description="host:port addresses, round-robin.",
        json_schema_extra={"items": {"type": "string", "pattern": UPSTREAM_PATTERN}},
    )
    https_redirect: bool = False
    hsts: bool = False

    @field_validator("domain")
    @classmethod
    def _domain(cls, v: str) -> str:
        return check_domain(v)

    @field_validator("upstreams")
    @classmethod
    def _upstreams(cls, v: list[str]) -> list[str]:
        return [check_upstream(u) for u in v]


class UpstreamOut(BaseModel):
    address: str
    healthy: bool | None = Field(description="As the proxy's health probes see it; null when unknown.")
    active_requests: int | None = None


class RouteOut(BaseModel):
    domain: str
    upstreams: list[UpstreamOut]
    app_id: str | None
    https_redirect: bool
    hsts: bool
    has_certificate: bool
    created_at: str
    updated_at: str


def routes() -> RouteService:
    service: RouteService = rivetr().services["routes"]
    return service


@bp.get("")
@tag(["routes"])
@validate_querystring(PageQuery)
@document_response(page_model(RouteOut, "RoutePage"))
async def list_routes(query_args: PageQuery) -> dict[str, Any]:
    """Routes by domain with the health of each upstream as the proxy sees it, a page at a time
    (``{"items", "next"}``; pass ``next`` back as ``?cursor=``)."""
    service = routes()
    page, next_cursor = list_page(await service.list(), lambda r: (r.domain,), (str,), query_args)
    statuses = await service.statuses() if page else {}
    return envelope([route_json(row, statuses.get(row.domain)) for row in page], next_cursor)


@bp.post("")
@tag(["routes"])
@validate_request(RouteIn)
@validate_response(RouteOut, 201)
async def create_route(data: RouteIn) -> tuple[dict[str, Any], int]:
    """Create or replace a manual route. Routes owned by an app are changed through the app."""
    service = routes()
    existing = await service.get(data.domain)
    if existing is not None and existing.app_id:
        raise ApiError(409, f"domain {data.domain!r} belongs to an app", details={"app_id": existing.app_id})
    row = await service.set(data.domain, data.upstreams, https_redirect=data.https_redirect, hsts=data.hsts)
    return route_json(row, None), 201


@bp.delete("/<domain>")
@tag(["routes"])
async def delete_route(domain: str) -> Response:
    service = routes()
    existing = await service.get(domain.lower())
    if existing is None:
        raise not_found("route", domain)
    if existing is service.dashboard:  # from the configuration: unset [server] dashboard_domain instead
        raise dashboard_domain_taken(existing.domain)
    if existing.app_id:
        raise ApiError(
            409,
            f"domain {domain!r} belongs to an app; remove it from the app",
            details={"app_id": existing.app_id},
        )
    await service.remove(existing.domain)
    return Response(status=204)
