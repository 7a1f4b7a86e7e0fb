"""``/api/apps/{id}/env-vars``: an app's environment. Values are encrypted at rest (every one, secret or not);
secret values are masked in responses unless ``?reveal=true``. Changes apply at the next deployment.

Thin handlers over :class:`~rivetr_core.services.apps.AppService` (``ctx.services.apps``), which owns the rules."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from quart import Blueprint, Response
from quart_schema import document_response, tag, validate_querystring, validate_request

from rivetr_core.authz.enforce import reveal_allowed
from rivetr_core.context import rivetr
from rivetr_core.pagination import PageQuery, envelope, page_model
from rivetr_core.services.app_responses import EnvVarOut

from .appschema import EnvVarIn, EnvVarUpdate, RevealQuery

bp = Blueprint("env_vars_api", __name__, url_prefix="/api/apps/<app_id>/env-vars")


class EnvVarsQuery(PageQuery):
    reveal: bool = Field(False, description="Show secret values instead of masking them.")


@bp.get("")
@tag(["env-vars"])
@validate_querystring(EnvVarsQuery)
@document_response(page_model(EnvVarOut, "EnvVarPage"))
async def list_env_vars(app_id: str, query_args: EnvVarsQuery) -> dict[str, Any]:
    """The app's variables by key, a page at a time (``{"items", "next"}``; pass ``next`` back as
    ``?cursor=``)."""
    service = rivetr().services.apps
    rows, next_cursor = await service.env_var_page(app_id, query_args)
    reveal = reveal_allowed(query_args.reveal)
    return envelope([service.env_var_json(r, reveal=reveal) for r in rows], next_cursor)


@bp.post("")
@tag(["env-vars"])
@validate_request(EnvVarIn)
@document_response(EnvVarOut, 201)
async def create_env_var(app_id: str, data: EnvVarIn) -> tuple[dict[str, Any], int]:
    service = rivetr().services.apps
    row = await service.add_env_var(app_id, data.key, data.value, is_secret=data.is_secret, scope=data.scope)
    return service.env_var_json(row), 201


@bp.get("/<key>")
@tag(["env-vars"])
@validate_querystring(RevealQuery)
@document_response(EnvVarOut)
async def get_env_var(app_id: str, key: str, query_args: RevealQuery) -> dict[str, Any]:
    service = rivetr().services.apps
    return service.env_var_json(await service.env_var(app_id, key), reveal=reveal_allowed(query_args.reveal))


@bp.put("/<key>")
@tag(["env-vars"])
@validate_request(EnvVarUpdate)
@document_response(EnvVarOut)
async def update_env_var(app_id: str, key: str, data: EnvVarUpdate) -> dict[str, Any]:
    service = rivetr().services.apps
    row = await service.update_env_var(
        app_id, key, value=data.value, is_secret=data.is_secret, scope=data.scope
    )
    return service.env_var_json(row)


@bp.delete("/<key>")
@tag(["env-vars"])
async def delete_env_var(app_id: str, key: str) -> Response:
    await rivetr().services.apps.delete_env_var(app_id, key)
    return Response(status=204)
