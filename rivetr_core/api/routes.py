"""``/api/routes``: manual proxy routes (app routes appear here too, with their ``app_id``), and the settings
of any route key (stripping, redirects, basic auth: ``/api/routes/settings/{key}``).

Thin handlers over :class:`~rivetr_core.routing.RouteService` (``ctx.services.routes``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, StrictBool, field_validator
from quart import Blueprint, Response
from quart_schema import document_response, tag, validate_querystring, validate_request, validate_response

from rivetr_core.apimodel import ApiModel
from rivetr_core.context import rivetr
from rivetr_core.pagination import PageQuery, envelope, page_model
from rivetr_core.routepaths import HASH_PATTERN, PREFIX_PATTERN, check_prefix, check_route_target, make_key
from rivetr_core.routing import RedirectRule, RouteOut, RouteService, RouteSettingsOut, route_json
from rivetr_core.validation import DOMAIN_SCHEMA, UPSTREAM_PATTERN, check_domain, check_upstream

bp = Blueprint("routes_api", __name__, url_prefix="/api/routes")


# <routekey:...> is rivetr_core.api.converters.RouteKeyConverter (installed by create_app).


class RouteIn(ApiModel):
    domain: str = Field(
        description="Host name, exact (a.example.com) or wildcard (*.example.com).",
        json_schema_extra=DOMAIN_SCHEMA,
    )
    path_prefix: str = Field(
        default="/",
        description="Only requests under this path (on a segment boundary: /v1 matches /v1 and /v1/x, not "
        "/v10) come here; the longest prefix of the domain wins.",
        json_schema_extra={"pattern": PREFIX_PATTERN, "maxLength": 300},
    )
    strip_prefix: bool | None = Field(
        default=None,
        description="Forward /v1/x as /x (with X-Forwarded-Prefix); null keeps the route's setting.",
    )
    upstream_protocol: Literal["http1", "h2c"] | None = Field(
        default=None,
        description="http1: HTTP/1.1 to the upstreams. h2c: HTTP/2 cleartext (prior knowledge), for gRPC; "
        "HTTP/1.1 clients then get 505. Null keeps the route's setting.",
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

    @field_validator("path_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        return check_prefix(v)

    @field_validator("upstreams")
    @classmethod
    def _upstreams(cls, v: list[str]) -> list[str]:
        return [check_upstream(u) for u in v]


class BasicAuthUserIn(ApiModel):
    name: str = Field(min_length=1, max_length=100, json_schema_extra={"pattern": r"^[^:\s]+$"})
    password: str | None = Field(
        default=None,
        min_length=1,
        max_length=72,
        description="Hashed with bcrypt by the server; never stored or shown. At most 72 bytes (bcrypt's limit).",
    )
    hash: str | None = Field(
        default=None,
        max_length=300,
        description="A ready bcrypt ($2b$…) or argon2 ($argon2id$…) hash.",
        json_schema_extra={"pattern": HASH_PATTERN},
    )


class BasicAuthIn(ApiModel):
    realm: str = Field(default="Restricted", max_length=200)
    users: list[BasicAuthUserIn] = Field(
        min_length=1,
        max_length=100,
        description="Replaces the list; a user given by name alone keeps its current password.",
    )


class RouteSettingsIn(ApiModel):
    """Only the fields present change."""

    strip_prefix: bool | None = None
    redirect_www: Literal["to-apex", "to-www"] | None = None
    redirects: list[RedirectRule] | None = Field(default=None, max_length=100, description="In order.")
    basic_auth: BasicAuthIn | None = Field(default=None, description="Null turns basic auth off.")
    compression: StrictBool | None = Field(
        default=None, description="false: this route's responses are never compressed by the proxy."
    )
    upstream_protocol: Literal["http1", "h2c"] | None = Field(
        default=None,
        description="h2c: HTTP/2 streams go to the app over HTTP/2 cleartext (gRPC); http1: HTTP/1.1.",
    )


def routes() -> RouteService:
    return rivetr().services.routes


@bp.get("")
@tag(["routes"])
@validate_querystring(PageQuery)
@document_response(page_model(RouteOut, "RoutePage"))
async def list_routes(query_args: PageQuery) -> dict[str, Any]:
    """Routes by key (domain, then path prefix) with the health of each upstream as the proxy sees it, a page
    at a time (``{"items", "next"}``; pass ``next`` back as ``?cursor=``)."""
    items, next_cursor = await routes().page_json(query_args)
    return envelope(items, next_cursor)


@bp.post("")
@tag(["routes"])
@validate_request(RouteIn)
@validate_response(RouteOut, 201)
async def create_route(data: RouteIn) -> tuple[dict[str, Any], int]:
    """Create or replace a manual route of (domain, path_prefix). Routes owned by an app are changed through
    the app (409)."""
    service = routes()
    key = make_key(data.domain, data.path_prefix)
    row = await service.set_manual(
        key,
        data.upstreams,
        https_redirect=data.https_redirect,
        hsts=data.hsts,
        strip_prefix=data.strip_prefix,
        upstream_protocol=data.upstream_protocol,
    )
    return route_json(row, None, await service.get_settings(key)), 201


@bp.get("/settings/<path:key>")
@tag(["routes"])
@validate_response(RouteSettingsOut)
async def get_route_settings(key: str) -> dict[str, Any]:
    """The settings of a route key (``example.com``, ``example.com/v1``): an app's or stack's domain entry, or
    a manual route. A key nothing routes yet answers the defaults."""
    return await routes().get_settings(_key(key))


@bp.put("/settings/<path:key>")
@tag(["routes"])
@validate_request(RouteSettingsIn)
@validate_response(RouteSettingsOut)
async def put_route_settings(key: str, data: RouteSettingsIn) -> dict[str, Any]:
    """Change prefix stripping, the www redirect, redirect rules or basic auth of a route key; the proxy
    applies them at once. Hashes are never returned. 409 ``managed_by_file`` when a field is one the
    ``route_settings`` of the owning app's rivetr.toml sets for this key (passwords of the users it names
    excepted): nothing of the request is applied."""
    changes = data.model_dump(by_alias=True, exclude_unset=True)
    return await routes().put_settings(_key(key), changes)


@bp.delete("/<routekey:key>")
@tag(["routes"])
async def delete_route(key: str) -> Response:
    """Remove a manual route by key (``example.com``, ``example.com/v1``); 409 for an app's route (change the
    app) or the dashboard's."""
    await routes().remove_manual(_key(key))
    return Response(status=204)


def _key(key: str) -> str:
    from rivetr_core.contract.errors import ValidationFailed

    try:
        return check_route_target(key)
    except ValueError as exc:
        raise ValidationFailed.on("key", str(exc)) from None
