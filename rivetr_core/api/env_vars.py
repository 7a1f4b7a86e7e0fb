"""``/api/apps/{id}/env-vars``: an app's environment. Values are encrypted at rest (every one, secret or not);
secret values are masked in responses unless ``?reveal=true``. Changes apply at the next deployment."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response
from quart_schema import tag, validate_querystring, validate_request
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from rivetr_core.context import rivetr
from rivetr_core.db import isoformat, utcnow
from rivetr_core.errors import ApiError, not_found
from rivetr_core.models.apps import App, EnvVar
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


async def _require_app(session: Any, app_id: str) -> None:
    if await session.get(App, app_id) is None:
        raise not_found("app", app_id)


async def _get(session: Any, app_id: str, key: str) -> EnvVar:
    await _require_app(session, app_id)
    row = (await session.exec(select(EnvVar).where(EnvVar.app_id == app_id, EnvVar.key == key))).first()
    if row is None:
        raise not_found("env var", key)
    return row  # type: ignore[no-any-return]


@bp.get("")
@tag(["env-vars"])
@validate_querystring(RevealQuery)
async def list_env_vars(app_id: str, query_args: RevealQuery) -> list[dict[str, Any]]:
    async with rivetr().db.session() as session:
        await _require_app(session, app_id)
        rows = (
            await session.exec(select(EnvVar).where(EnvVar.app_id == app_id).order_by(col(EnvVar.key)))
        ).all()
    return [env_json(r, query_args.reveal) for r in rows]


@bp.post("")
@tag(["env-vars"])
@validate_request(EnvVarIn)
async def create_env_var(app_id: str, data: EnvVarIn) -> tuple[dict[str, Any], int]:
    ctx = rivetr()
    row = EnvVar(
        app_id=app_id, key=data.key, value_enc=ctx.secrets.encrypt(data.value), is_secret=data.is_secret
    )
    try:
        async with ctx.db.session() as session:
            await _require_app(session, app_id)
            session.add(row)
            await session.commit()
    except IntegrityError:
        raise ApiError(
            409,
            f"key: {data.key!r} is already set; use PUT to change it",
            details=[{"field": "key", "message": "already set"}],
        ) from None
    return env_json(row, False), 201


@bp.get("/<key>")
@tag(["env-vars"])
@validate_querystring(RevealQuery)
async def get_env_var(app_id: str, key: str, query_args: RevealQuery) -> dict[str, Any]:
    async with rivetr().db.session() as session:
        row = await _get(session, app_id, key)
    return env_json(row, query_args.reveal)


@bp.put("/<key>")
@tag(["env-vars"])
@validate_request(EnvVarUpdate)
async def update_env_var(app_id: str, key: str, data: EnvVarUpdate) -> dict[str, Any]:
    ctx = rivetr()
    async with ctx.db.session() as session:
        row = await _get(session, app_id, key)
        if data.value is not None:
            row.value_enc = ctx.secrets.encrypt(data.value)
        if data.is_secret is not None:
            row.is_secret = data.is_secret
        row.updated_at = utcnow()
        session.add(row)
        await session.commit()
    return env_json(row, False)


@bp.delete("/<key>")
@tag(["env-vars"])
async def delete_env_var(app_id: str, key: str) -> Response:
    async with rivetr().db.session() as session:
        row = await _get(session, app_id, key)
        await session.delete(row)
        await session.commit()
    return Response(status=204)
