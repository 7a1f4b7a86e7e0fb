"""``/api/routes``: manual proxy routes (app routes appear here too, with their ``app_id``).

Thin handlers over :class:`~rivetr_core.routing.RouteService` (``ctx.services.routes``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator
from quart import Blueprint, Response
from quart_schema import document_response, tag, validate_querystring, validate_request, validate_response

from rivetr_core.apimodel import ApiModel
from rivetr_core.context import rivetr
from rivetr_core.pagination import PageQuery, envelope, page_model
from rivetr_core.routing import RouteOut, RouteService, route_json
from rivetr_core.validation import DOMAIN_SCHEMA, UPSTREAM_PATTERN, check_domain, check_upstream

bp = Blueprint("routes_api", __name__, url_prefix="/api/routes")


class RouteIn(ApiModel):
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


def routes() -> RouteService:
    return rivetr().services.routes


@bp.get("")
@tag(["routes"])
@validate_querystring(PageQuery)
@document_response(page_model(RouteOut, "RoutePage"))
async def list_routes(query_args: PageQuery) -> dict[str, Any]:
    """Routes by domain with the health of each upstream as the proxy sees it, a page at a time
    (``{"items", "next"}``; pass ``next`` back as ``?cursor=``)."""
    items, next_cursor = await routes().page_json(query_args)
    return envelope(items, next_cursor)


@bp.post("")
@tag(["routes"])
@validate_request(RouteIn)
@validate_response(RouteOut, 201)
async def create_route(data: RouteIn) -> tuple[dict[str, Any], int]:
    """Create or replace a manual route. Routes owned by an app are changed through the app (409)."""
    row = await routes().set_manual(
        data.domain, data.upstreams, https_redirect=data.https_redirect, hsts=data.hsts
    )
    return route_json(row, None), 201


@bp.delete("/<domain>")
@tag(["routes"])
async def delete_route(domain: str) -> Response:
    """Remove a manual route; 409 for an app's route (change the app) or the dashboard's."""
    await routes().remove_manual(domain)
    return Response(status=204)
