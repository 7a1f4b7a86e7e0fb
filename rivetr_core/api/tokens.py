"""``/api/tokens``: API tokens for scripts and the CLI. The raw token is returned once, at creation."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from quart import Blueprint, Response, g, request
from quart_schema import document_response, tag, validate_querystring, validate_request
from sqlmodel import select

from rivetr_core.accounts.service import token_json
from rivetr_core.accounts.web import accounts
from rivetr_core.context import rivetr
from rivetr_core.errors import not_found
from rivetr_core.models.accounts import ApiToken
from rivetr_core.pagination import PageQuery, envelope, keyset_page, page_model

bp = Blueprint("tokens_api", __name__, url_prefix="/api/tokens")


class TokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="What the token is for (e.g. 'ci').")
    expires_in_days: int | None = Field(None, ge=1, le=3650, description="Lifetime; none = no expiry.")


@bp.get("")
@tag(["tokens"])
@validate_querystring(PageQuery)
@document_response(page_model(dict[str, Any], "TokenPage"))
async def list_tokens(query_args: PageQuery) -> dict[str, Any]:
    """API tokens in creation order, a page at a time (``{"items", "next"}``; pass ``next`` back as
    ``?cursor=``); never the secret value, only its first characters (``prefix``)."""
    async with rivetr().db.session() as session:
        rows, next_cursor = await keyset_page(session, select(ApiToken), ApiToken, query_args)
    return envelope([token_json(t) for t in rows], next_cursor)


@bp.post("")
@tag(["tokens"])
@validate_request(TokenIn)
async def create_token(data: TokenIn) -> tuple[dict[str, Any], int]:
    """Create a token. The response's ``token`` is the only time the value is shown: store it now."""
    user = getattr(g, "rivetr_user", None)
    principal = getattr(request, "rivetr_principal", "admin")
    token, raw = await accounts().create_token(
        data.name, user=user, created_by=principal, expires_in_days=data.expires_in_days
    )
    return {**token_json(token), "token": raw}, 201


@bp.delete("/<token_id>")
@tag(["tokens"])
async def revoke_token(token_id: str) -> Response:
    """Revoke (delete) a token; requests carrying it fail with 401 from now on."""
    if not await accounts().revoke_token(token_id):
        raise not_found("token", token_id)
    return Response(status=204)
