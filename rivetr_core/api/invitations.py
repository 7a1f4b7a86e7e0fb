"""``/api/invitations``: one-time links that let a new user join a team, and ``/api/auth/reset/{token}`` which
uses a password-reset link (made by ``POST /api/users/{user}/password-reset``).

Made by someone with the team's ``members`` permission (an ``owner`` only by a team owner or a server owner/admin),
an invitation is a URL ``<external_url or this server>/invite/<token>`` the inviter hands over (Rivetr sends no
mail). The token is shown once and stored as its sha256; the link expires (7 days unless ``expires_in_hours``) and
works once. ``GET /api/invitations/{token}`` and ``POST /api/invitations/{token}/accept`` are public (the token is
the credential; the guard knows them by the token's ``rvt_inv_`` prefix), as is ``POST /api/auth/reset/{token}``
(``rvt_rst_``). Accepting creates the user (no server role) in the team with the invited role and logs them in.

Each route's permission is declared in rivetr_core/authz/routes.py; the service
(:mod:`rivetr_core.accounts.invitations`) and its table load with the first request that needs them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import JsonDict
from quart import Blueprint, Response, current_app, request
from quart_schema import document_response, tag, validate_querystring, validate_request

from rivetr_core.accounts.responses import LoginOut
from rivetr_core.accounts.service import USERNAME_RE
from rivetr_core.accounts.user_responses import (
    InvitationOut,
    InvitationPublicOut,
    NewInvitationOut,
    invitation_json,
    new_link_json,
    public_link_json,
)
from rivetr_core.accounts.web import accounts
from rivetr_core.apimodel import document_alternatives
from rivetr_core.authz.permissions import TEAM_ROLES
from rivetr_core.context import rivetr
from rivetr_core.openapi import responds, security
from rivetr_core.pagination import PageQuery, envelope, page_model
from rivetr_core.ratelimit import current_client

from .appschema import _document_checks, _Strict

if TYPE_CHECKING:
    from rivetr_core.accounts.invitations import InvitationService
    from rivetr_core.authz.permissions import Principal

bp = Blueprint("invitations_api", __name__)
InvitationPage = page_model(InvitationOut, "InvitationPage")

USERNAME_FIELD: JsonDict = {"pattern": USERNAME_RE.pattern}
EMAIL_MAX = 254
#: Spelled-out whitespace, not ``\s``: the document's ECMA-262 ``\s`` and Python's differ (Python's includes
#: U+001C..U+001F, ECMA's U+FEFF), and the validator must refuse exactly what the document does.
EMAIL_PATTERN = r"^[^@ \t\n\r\f\v]+@[^@ \t\n\r\f\v]+$"


def _for_someone(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """The document says what the validator checks: ``email`` or ``username`` (or both), each a string when
    present (a client following the document is never refused)."""
    _document_checks(schema, model)
    document_alternatives(schema, ("email", "username"), exactly_one=False)


class InvitationIn(_Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_for_someone)

    email: str | None = Field(
        None,
        min_length=3,
        max_length=EMAIL_MAX,
        description="Recorded only (no mail is sent).",
        json_schema_extra={"pattern": EMAIL_PATTERN},
    )
    username: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        json_schema_extra=USERNAME_FIELD,
        description="Suggested user name (the invitee may choose another); 409 when it is taken.",
    )
    team_id: str = Field(min_length=1, max_length=32, description="The team the new user joins.")
    role: str = Field(description="Team role of the new user.", json_schema_extra={"enum": list(TEAM_ROLES)})
    expires_in_hours: int | None = Field(
        None, ge=1, le=720, description="Lifetime of the link (default 168 hours: 7 days)."
    )

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        # The documented pattern itself, so a client that follows the document is never refused (its ``$`` also
        # lets one trailing newline through, which is dropped here).
        if v is not None and not re.search(EMAIL_PATTERN, v):
            raise ValueError("not an email address")
        return v.rstrip("\n") if v is not None else None

    @model_validator(mode="after")
    def _someone(self) -> InvitationIn:
        if self.email is None and self.username is None:
            raise ValueError("give email or username (whom the link is for)")
        return self


class AcceptIn(_Strict):
    username: str = Field(
        min_length=1,
        max_length=64,
        json_schema_extra=USERNAME_FIELD,
        description="The new user's login name: letters, digits and _ . @ - (starting with a letter or digit).",
    )
    password: str = Field(
        min_length=1,
        max_length=1024,
        description="At least [auth] min_password_length characters (10 unless configured).",
    )


class ResetIn(_Strict):
    password: str = Field(
        min_length=1, max_length=1024, description="The new password ([auth] min_password_length applies)."
    )


def service() -> InvitationService:
    from rivetr_core.accounts.invitations import InvitationService

    return InvitationService(rivetr().db, accounts())


def principal() -> Principal:
    return request.rivetr_authz  # type: ignore[attr-defined, no-any-return]


def link_url(kind_path: str, raw: str) -> str:
    """Where the link points: the dashboard page behind it, under ``[server] external_url`` (else the dashboard
    domain, else the address this request came to), as webhook URLs are advertised."""
    from rivetr_core.webhooks.service import advertised_base_url

    return f"{advertised_base_url(rivetr().config, request.host_url)}/{kind_path}/{raw}"


@bp.post("/api/invitations")
@responds(403, 404)
@tag(["users"])
@validate_request(InvitationIn)
@document_response(NewInvitationOut, 201)
async def create_invitation(data: InvitationIn) -> tuple[dict[str, Any], int]:
    """Make a one-time invitation link into a team with a role. The ``token`` and ``url`` are shown this once.
    404 naming ``team_id`` for a team the caller cannot see; 403 inviting an ``owner`` without being the team's
    owner (or a server owner/admin); 409 when ``username`` is taken."""
    row, raw, team_name = await service().create_invitation(
        principal(),
        team_id=data.team_id,
        role=data.role,
        email=data.email,
        username=data.username,
        expires_in_hours=data.expires_in_hours,
    )
    return new_link_json(row, team_name, raw, link_url("invite", raw)), 201


@bp.get("/api/invitations")
@tag(["users"])
@validate_querystring(PageQuery)
@document_response(InvitationPage)
async def list_invitations(query_args: PageQuery) -> dict[str, Any]:
    """Pending links (not used, not expired) in creation order, a page at a time (``{"items", "next"}``):
    invitations into the teams the caller sees, and password-reset links for server owners/admins."""
    rows, next_cursor = await service().page(principal(), query_args)
    return envelope([invitation_json(row, name) for row, name in rows], next_cursor)


@bp.delete("/api/invitations/<invitation>")
@tag(["users"])
async def revoke_invitation(invitation: str) -> Response:
    """Revoke a pending link by its **id** (the link stops working); 404 when there is none the caller sees."""
    await service().revoke(principal(), invitation)
    return Response(status=204)


@bp.get("/api/invitations/<invitation>")
@security([])
@responds(401)  # no link token in the path: a credential is needed, as on any API route
@tag(["users"])
@document_response(InvitationPublicOut)
async def get_invitation(invitation: str) -> dict[str, Any]:
    """Public: what an invitation link (its **token**, ``rvt_inv_...``) offers: team, role, suggested user name,
    expiry. 404 when the link is unknown, used or expired."""
    row, team_name = await service().lookup(invitation)
    return public_link_json(row, team_name)


@bp.post("/api/invitations/<invitation>/accept")
@security([])
@responds(401)  # no link token in the path: a credential is needed, as on any API route
@tag(["users"])
@validate_request(AcceptIn)
@document_response(LoginOut, 201)
async def accept_invitation(invitation: str, data: AcceptIn) -> Response:
    """Public: accept an invitation (its **token**): creates the user (no server role) as a member of the team with
    the invited role, uses the link up and logs the user in (session cookie and CSRF token, as login does). 404
    when the link is unknown, used or expired; 409 naming ``username`` when it is taken (the link stays usable)."""
    user = await service().accept(invitation, data.username, data.password)
    request.rivetr_principal = f"user:{user.username}"  # type: ignore[attr-defined]  # whom audit names
    return await _logged_in(user)


@bp.post("/api/auth/reset/<token>")
@security([])
@responds(401)  # no link token in the path: a credential is needed, as on any API route
@tag(["auth"])
@validate_request(ResetIn)
async def reset_password(token: str, data: ResetIn) -> Response:
    """Public: set a new password with a password-reset link (its **token**, ``rvt_rst_...``); every session of the
    user ends (log in with the new password). 404 when the link is unknown, used or expired."""
    user = await service().reset_password(token, data.password)
    request.rivetr_principal = f"user:{user.username}"  # type: ignore[attr-defined]  # whom audit names
    return Response(status=204)


async def _logged_in(user: Any) -> Response:
    from .auth import session_response

    result = await accounts().open_session(
        user,
        ip=current_client(current_app),
        user_agent=request.headers.get("User-Agent"),  # type: ignore[arg-type]
    )
    return session_response(result, 201)
