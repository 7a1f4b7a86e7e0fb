"""``/api/apps``: create, list, read, update and delete apps.

Thin handlers: parse, call :class:`~rivetr_core.services.apps.AppService` (``ctx.services.apps``, which owns the
checks, the writes, the route sync and the events), serialise. Its domain errors become HTTP in
``rivetr_core.errors``.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response
from quart_schema import document_response, tag, validate_querystring, validate_request

from rivetr_core import readmodels
from rivetr_core.autodomains import annotate
from rivetr_core.context import rivetr
from rivetr_core.openapi import responds
from rivetr_core.pagination import PageQuery, page_model
from rivetr_core.services.app_responses import AppOut
from rivetr_core.tags import query_tags

from .appschema import AppIn, AppsQuery, AppUpdate, DeleteAppQuery

bp = Blueprint("apps_api", __name__, url_prefix="/api/apps")


@bp.post("")
@responds(404)
@tag(["apps"])
@validate_request(AppIn)
@document_response(AppOut, 201)
async def create_app(data: AppIn) -> tuple[dict[str, Any], int]:
    """Create an app (nothing is deployed until ``POST /api/apps/{id}/deploy``)."""
    app, domains = await rivetr().services.apps.create(data.model_dump())
    return await annotate(rivetr(), rivetr().services.apps.app_json(app, domains)), 201


class AppsPageQuery(AppsQuery, PageQuery):
    pass


@bp.get("")
@tag(["apps"])
@validate_querystring(AppsPageQuery)
@document_response(page_model(AppOut, "AppPage"))
async def list_apps(query_args: AppsPageQuery) -> Response:
    """Apps in creation order, a page at a time (``{"items", "next"}``; pass ``next`` back as ``?cursor=``),
    optionally only those of one project and/or environment and/or holding every ``?tag=``. Preview apps (one
    per pull request, see ``/api/apps/{id}/previews``) are left out unless ``include_previews=true``."""
    ctx = rivetr()
    body = await readmodels.app_page_json(
        ctx.db,
        ctx.config.runtime,
        limit=query_args.limit,
        cursor=query_args.cursor,
        environment=query_args.environment,
        project_id=query_args.project_id,
        include_previews=query_args.include_previews,
        tags=tuple(query_tags(query_args.tag)),
        decorate=lambda out: annotate(ctx, out),  # default_domain, as GET /api/apps/{id} answers it
    )
    return Response(body, content_type="application/json")


@bp.get("/<app_id>")
@tag(["apps"])
@document_response(AppOut)
async def get_app(app_id: str) -> dict[str, Any]:
    service = rivetr().services.apps
    return await _managed(await annotate(rivetr(), service.app_json(*await service.get(app_id))))


async def _managed(out: dict[str, Any]) -> dict[str, Any]:
    """``managed_by_file``: what the app's repository manages (loads rivetr_core.iac.managed on first use)."""
    from rivetr_core.iac.managed import managed_json

    out["managed_by_file"] = await managed_json(rivetr().db, out["id"])
    return out


@bp.put("/<app_id>")
@tag(["apps"])
@validate_request(AppUpdate)
@document_response(AppOut)
async def update_app(app_id: str, data: AppUpdate) -> dict[str, Any]:
    """Change some fields; domains and the HTTPS flags apply to the app's routes at once, the rest at the
    next deploy. 409 ``managed_by_file`` when a field is one the repository's rivetr.toml manages (see
    ``managed_by_file``): nothing of the request is applied."""
    fields = {k: getattr(data, k) for k in data.model_fields_set}
    service = rivetr().services.apps
    return await _managed(await annotate(rivetr(), service.app_json(*await service.update(app_id, fields))))


@bp.delete("/<app_id>")
@tag(["apps"])
@validate_querystring(DeleteAppQuery)
async def delete_app(app_id: str, query_args: DeleteAppQuery) -> Response:
    """Stop and remove the app's containers, routes and images, then the app and its history, then its named
    volumes (their data) unless ``?keep_volumes=true``."""
    await rivetr().services.apps.delete(app_id, keep_volumes=query_args.keep_volumes)
    return Response(status=204)
