"""``/api/apps/{id}/env-vars``: an app's environment. Values are encrypted at rest (every one, secret or not);
secret values are masked in responses unless ``?reveal=true``. Changes apply at the next deployment.
``POST .../env-vars/bulk`` sets many at once from .env text (:mod:`rivetr_core.dotenv`, with a dry run for a
preview: :mod:`rivetr_core.services.env_bulk`).

Thin handlers over :class:`~rivetr_core.services.apps.AppService` (``ctx.services.apps``), which owns the rules."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, field_validator
from quart import Blueprint, Response
from quart_schema import document_response, tag, validate_querystring, validate_request

from rivetr_core.apimodel import ApiModel
from rivetr_core.authz.enforce import reveal_allowed
from rivetr_core.context import rivetr
from rivetr_core.dotenv import DotenvError, parse_dotenv
from rivetr_core.openapi import responds
from rivetr_core.pagination import PageQuery, envelope, page_model
from rivetr_core.services.app_responses import EnvVarOut
from rivetr_core.services.env_bulk import import_env

from .appschema import _SCOPE_DOC, EnvScope, EnvVarIn, EnvVarUpdate, RevealQuery, check_env_key

#: A .env file, not a database dump: 2,000 variables of the largest value fit, as the single-variable limit.
MAX_DOTENV = 512 * 1024
MAX_VALUE = 65536

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


class EnvBulkIn(ApiModel):
    model_config = ConfigDict(extra="forbid")

    dotenv: str = Field(
        max_length=MAX_DOTENV,
        description="The variables in .env syntax: KEY=value lines, an optional `export` prefix, # comments, "
        "'single' (literal) and \"double\" (\\n escapes) quotes, values over several lines in quotes. A key "
        "given twice keeps its last value.",
    )
    is_secret: bool | None = Field(
        None,
        description="Mark every imported variable secret (true) or not (false); null: new ones are not, existing "
        "ones keep their flag.",
    )
    scope: EnvScope | None = Field(
        None,
        description="Scope of every imported variable; null: new ones runtime, existing ones kept. "
        + _SCOPE_DOC,
    )

    @field_validator("dotenv")
    @classmethod
    def _dotenv(cls, v: str) -> str:
        try:
            pairs = parse_dotenv(v)
        except DotenvError as exc:
            raise ValueError(str(exc)) from None
        if not pairs:
            raise ValueError("holds no KEY=VALUE line")
        for key, value in pairs:
            try:
                check_env_key(key)
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from None
            if len(value) > MAX_VALUE:
                raise ValueError(f"{key}: the value is longer than {MAX_VALUE} characters")
            if "\x00" in value:
                raise ValueError(f"{key}: the value must not contain NUL characters")
        return v


class EnvBulkOut(ApiModel):
    dry_run: bool = Field(description="True: nothing was written (a preview).")
    added: list[str] = Field(description="Keys the app did not have, in the order given.")
    changed: list[str] = Field(description="Keys whose value, secret flag or scope the import changes.")
    unchanged: list[str] = Field(description="Keys already set exactly so.")


async def _bulk(app_id: str, data: EnvBulkIn, *, dry_run: bool) -> dict[str, Any]:
    pairs = parse_dotenv(data.dotenv)
    result = await import_env(
        rivetr(), app_id, pairs, is_secret=data.is_secret, scope=data.scope, dry_run=dry_run
    )
    return EnvBulkOut(**result).model_dump()


@bp.post("/bulk")
@tag(["env-vars"])
@responds(409)
@validate_request(EnvBulkIn)
@document_response(EnvBulkOut)
async def bulk_env_vars(app_id: str, data: EnvBulkIn) -> dict[str, Any]:
    """Set many variables from .env text at once, all or nothing: new keys are added, set ones changed;
    keys left out stay as they are. Values are never answered; like every variable they apply at the next
    deployment. 422 names the line at fault."""
    return await _bulk(app_id, data, dry_run=False)


@bp.post("/bulk/preview")
@tag(["env-vars"])
@validate_request(EnvBulkIn)
@document_response(EnvBulkOut)
async def preview_bulk_env_vars(app_id: str, data: EnvBulkIn) -> dict[str, Any]:
    """What ``POST .../bulk`` with this body would add and change, without writing (``dry_run`` true). A
    route of its own rather than a flag: the audit log and the pending-changes banner see only real changes."""
    return await _bulk(app_id, data, dry_run=True)


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
