"""``/api/tokens``: API tokens for scripts and the CLI. The raw token is returned once, at creation.

Thin handlers over :class:`~rivetr_core.accounts.service.AccountService` (``ctx.services.accounts``).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from quart import Blueprint, Response, g, request
from quart_schema import document_response, tag, validate_querystring, validate_request

from rivetr_core.accounts.responses import NewTokenOut, TokenOut, new_token_json, token_json
from rivetr_core.accounts.web import accounts
from rivetr_core.apimodel import ApiModel
from rivetr_core.errors import not_found
from rivetr_core.pagination import PageQuery, envelope, page_model

bp = Blueprint("tokens_api", __name__, url_prefix="/api/tokens")
TokenPage = page_model(TokenOut, "TokenPage")


class TokenIn(ApiModel):
    name: str = Field(min_length=1, max_length=100, description="What the token is for (e.g. 'ci').")
    expires_in_days: int | None = Field(None, ge=1, le=3650, description="Lifetime; none = no expiry.")


@bp.get("")
@tag(["tokens"])
@validate_querystring(PageQuery)
@document_response(TokenPage)
async def list_tokens(query_args: PageQuery) -> dict[str, Any]:
    """API tokens in creation order, a page at a time (``{"items", "next"}``; pass ``next`` back as
    ``?cursor=``); never the secret value, only its first characters (``prefix``)."""
    rows, next_cursor = await accounts().token_page(query_args)
    return envelope([token_json(t) for t in rows], next_cursor)


@bp.post("")
@tag(["tokens"])
@validate_request(TokenIn)
@document_response(NewTokenOut, 201)
async def create_token(data: TokenIn) -> tuple[dict[str, Any], int]:
    """Create a token. The response's ``token`` is the only time the value is shown: store it now."""
    user = getattr(g, "rivetr_user", None)
    principal = getattr(request, "rivetr_principal", "admin")
    token, raw = await accounts().create_token(
        data.name, user=user, created_by=principal, expires_in_days=data.expires_in_days
    )
    return new_token_json(token, raw), 201


@bp.delete("/<token_id>")
@tag(["tokens"])
async def revoke_token(token_id: str) -> Response:
    """Revoke (delete) a token; requests carrying it fail with 401 from now on."""
    if not await accounts().revoke_token(token_id):
        raise not_found("token", token_id)
    return Response(status=204)
