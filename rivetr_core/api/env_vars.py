"""``/api/apps/{id}/env-vars``: an app's environment. Values are encrypted at rest (every one, secret or not);
secret values are masked in responses unless ``?reveal=true``. Changes apply at the next deployment.

Thin handlers over :class:`~rivetr_core.services.apps.AppService` (``ctx.services.apps``), which owns the rules."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from quart import Blueprint, Response
from quart_schema import document_response, tag, validate_querystring, validate_request

from rivetr_core.context import rivetr
from rivetr_core.db import isoformat
from rivetr_core.models.apps import EnvVar
from rivetr_core.pagination import PageQuery, envelope, list_page, page_model
from rivetr_core.secrets import mask

from .appschema import EnvVarIn, EnvVarUpdate, RevealQuery

bp = Blueprint("env_vars_api", __name__, url_prefix="/api/apps/<app_id>/env-vars")


def env_json(row: EnvVar, reveal: bool) -> dict[str, Any]:
    value = rivetr().secrets.decrypt(row.value_enc) if reveal or not row.is_secret else mask("x")
    return {
        "key": row.key,
        "value": value,
        "is_secret": row.is_secret,
        "created_at": isoformat(row.created_at),
        "updated_at": isoformat(row.updated_at),
    }


class EnvVarsQuery(PageQuery):
    reveal: bool = Field(False, description="Show secret values instead of masking them.")


@bp.get("")
@tag(["env-vars"])
@validate_querystring(EnvVarsQuery)
@document_response(page_model(dict[str, Any], "EnvVarPage"))
async def list_env_vars(app_id: str, query_args: EnvVarsQuery) -> dict[str, Any]:
    """The app's variables by key, a page at a time (``{"items", "next"}``; pass ``next`` back as
    ``?cursor=``)."""
    rows = await rivetr().services.apps.env_vars(app_id)
    page, next_cursor = list_page(rows, lambda r: (r.key,), (str,), query_args)
    return envelope([env_json(r, query_args.reveal) for r in page], next_cursor)


@bp.post("")
@tag(["env-vars"])
@validate_request(EnvVarIn)
async def create_env_var(app_id: str, data: EnvVarIn) -> tuple[dict[str, Any], int]:
    row = await rivetr().services.apps.add_env_var(app_id, data.key, data.value, is_secret=data.is_secret)
    return env_json(row, False), 201


@bp.get("/<key>")
@tag(["env-vars"])
@validate_querystring(RevealQuery)
async def get_env_var(app_id: str, key: str, query_args: RevealQuery) -> dict[str, Any]:
    return env_json(await rivetr().services.apps.env_var(app_id, key), query_args.reveal)


@bp.put("/<key>")
@tag(["env-vars"])
@validate_request(EnvVarUpdate)
async def update_env_var(app_id: str, key: str, data: EnvVarUpdate) -> dict[str, Any]:
    row = await rivetr().services.apps.update_env_var(app_id, key, value=data.value, is_secret=data.is_secret)
    return env_json(row, False)


@bp.delete("/<key>")
@tag(["env-vars"])
async def delete_env_var(app_id: str, key: str) -> Response:
    await rivetr().services.apps.delete_env_var(app_id, key)
    return Response(status=204)
