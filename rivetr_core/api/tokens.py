"""``/api/tokens``: API tokens for scripts and the CLI. The raw token is returned once, at creation.

A token belongs to the user who made it (with a session or another of their tokens; the admin token's tokens
belong to no user and act as a server owner), carries scopes (``read``, ``deploy``, ``write``, ``admin``), and
optionally a team, an app/project restriction and an expiry (docs/tokens.md). Users list and revoke their own
tokens; server owners/admins everyone's (``?all=true``). Thin handlers over
:class:`~rivetr_core.accounts.service.AccountService` (``ctx.services.accounts``) and
:mod:`rivetr_core.accounts.token_scopes` (the rules a new token is checked against).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field
from quart import Blueprint, Response, g, request
from quart_schema import document_response, tag, validate_querystring, validate_request

from rivetr_core.accounts.responses import NewTokenOut, TokenOut, new_token_json, token_json
from rivetr_core.accounts.web import accounts
from rivetr_core.apimodel import ApiModel
from rivetr_core.authz.permissions import Principal
from rivetr_core.errors import not_found
from rivetr_core.openapi import responds
from rivetr_core.pagination import PageQuery, envelope, page_model

bp = Blueprint("tokens_api", __name__, url_prefix="/api/tokens")
TokenPage = page_model(TokenOut, "TokenPage")
Scope = Literal["read", "deploy", "write", "admin"]


class TokenIn(ApiModel):
    name: str = Field(min_length=1, max_length=100, description="What the token is for (e.g. 'ci').")
    scopes: list[Scope] = Field(
        min_length=1,
        description="What it may do, narrowing its user's role: read, deploy (read + deploy), write (read, "
        "deploy, change), admin (everything the user may, including secrets and making tokens).",
    )
    team_id: str | None = Field(
        None,
        max_length=63,
        description="Team (id or name) it acts in; default: the user's (or the apps') team.",
    )
    app_ids: list[str] | None = Field(
        None, max_length=100, description="Only these apps (ids, in the team); other resources are invisible."
    )
    project_ids: list[str] | None = Field(None, max_length=100, description="Only these projects (ids).")
    expires_in_days: int | None = Field(None, ge=1, le=3650, description="Lifetime; none = no expiry.")


class TokenQuery(PageQuery):
    model_config = ConfigDict(extra="forbid")

    all: bool = Field(False, description="Every user's tokens (server owners and admins only).")


def _caller() -> Principal:
    principal: Principal = request.rivetr_authz  # type: ignore[attr-defined]
    return principal


@bp.get("")
@tag(["tokens"])
@validate_querystring(TokenQuery)
@document_response(TokenPage)
async def list_tokens(query_args: TokenQuery) -> dict[str, Any]:
    """The caller's API tokens in creation order (``?all=true``: everyone's, for server owners and admins), a
    page at a time (``{"items", "next"}``; pass ``next`` back as ``?cursor=``); never the secret value, only its
    first characters (``prefix``)."""
    everyone = query_args.all and _caller().server_role is not None
    rows, next_cursor = await accounts().token_page(
        query_args, getattr(g, "rivetr_user", None), everyone=everyone
    )
    return envelope([token_json(t) for t in rows], next_cursor)


@bp.post("")
@tag(["tokens"])
@validate_request(TokenIn)
@document_response(NewTokenOut, 201)
@responds(403, 404)  # beyond the minting token's grant; a team, app or project that is not there
async def create_token(data: TokenIn) -> tuple[dict[str, Any], int]:
    """Create a token for the caller. The response's ``token`` is the only time the value is shown: store it
    now. A token made with another token gets at most that token's scopes, team and restriction (403)."""
    from rivetr_core.accounts.token_scopes import check_new_token

    service = accounts()
    user = getattr(g, "rivetr_user", None)
    grant = await check_new_token(
        service.db,
        service.principals,
        _caller(),
        user,
        data.scopes,
        data.team_id,
        data.app_ids,
        data.project_ids,
    )
    token, raw = await service.create_token(
        data.name,
        user=user,
        created_by=getattr(request, "rivetr_principal", "admin"),
        expires_in_days=data.expires_in_days,
        scopes=data.scopes,
        team_id=grant.team_id,
        app_ids=grant.app_ids,
        project_ids=grant.project_ids,
    )
    return new_token_json(token, raw), 201


@bp.delete("/<token_id>")
@tag(["tokens"])
async def revoke_token(token_id: str) -> Response:
    """Revoke (delete) one of the caller's tokens (server owners and admins: anyone's); requests carrying it fail
    with 401 from now on. Someone else's token is a 404."""
    service = accounts()
    token = await service.get_token(token_id)
    user = getattr(g, "rivetr_user", None)
    mine = token is not None and token.user_id == (user.id if user else None)
    if (
        token is None
        or not (mine or _caller().server_role is not None)
        or not await service.revoke_token(token_id)
    ):
        raise not_found("token", token_id)
    return Response(status=204)
