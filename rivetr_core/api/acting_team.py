"""``/api/auth/team``: the team a request acts in, and the dashboard's team switcher.

``GET`` says who the caller is for the permission check: the acting team and the role in it, the server role, the
permissions held and the teams the caller may switch to. ``PUT {"team_id"}`` stores a dashboard session's choice
(``user_sessions.current_team_id``); ``null`` goes back to the default (a server owner/admin: every team). API
tokens have no switcher: they act in their own team, or in the one an ``X-Rivetr-Team`` header names.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from quart import Blueprint, current_app, g, request
from quart_schema import document_response, tag, validate_request

from rivetr_core.accounts.service import AccountError
from rivetr_core.accounts.web import accounts, current_session
from rivetr_core.apimodel import ApiModel
from rivetr_core.authz.permissions import Principal

bp = Blueprint("acting_team_api", __name__, url_prefix="/api/auth/team")


class TeamChoiceIn(ApiModel):
    team_id: str | None = Field(
        max_length=63,
        description="Team id or name to act in; null: the default (every team for server admins).",
    )


class TeamOptionOut(ApiModel):
    id: str
    name: str
    role: str | None = Field(
        description="The caller's role in it; null: not a member (server owners/admins)."
    )


class ActingTeamOut(ApiModel):
    team_id: str | None = Field(
        description="The team requests act in; null: every team (server owners/admins)."
    )
    team_role: str | None = Field(description="Role in that team (owner, admin, developer, viewer) or null.")
    server_role: str | None = Field(description="owner or admin of the whole server, or null.")
    permissions: list[str] = Field(description="What the caller may do (docs/permissions.md).")
    two_factor_required: bool = Field(description="The team requires two-factor login, which the user lacks.")
    teams: list[TeamOptionOut] = Field(description="Teams the caller may switch to.")


def _principal() -> Principal:
    principal: Principal = request.rivetr_authz  # type: ignore[attr-defined]
    return principal


async def _answer(principal: Principal) -> dict[str, Any]:
    teams = await accounts().principals.available_teams(getattr(g, "rivetr_user", None))
    return ActingTeamOut.model_validate(
        {
            "team_id": principal.team_id,
            "team_role": principal.team_role,
            "server_role": principal.server_role,
            "permissions": sorted(principal.grants),
            "two_factor_required": principal.needs_two_factor,
            "teams": [{"id": t.id, "name": t.name, "role": t.role} for t in teams],
        }
    ).model_dump(mode="json")


@bp.get("")
@tag(["auth"])
@document_response(ActingTeamOut)
async def get_acting_team() -> dict[str, Any]:
    """The caller's acting team, roles and permissions, and the teams it may switch to."""
    return await _answer(_principal())


@bp.put("")
@tag(["auth"])
@validate_request(TeamChoiceIn)
@document_response(ActingTeamOut)
async def set_acting_team(data: TeamChoiceIn) -> dict[str, Any]:
    """Switch the dashboard session to another team (404 naming ``team_id`` for a team the user may not act
    in). Only a session has this choice: a token is refused with 409."""
    principal = _principal()
    info = await current_session(current_app) if principal.name.startswith("user:") else None  # type: ignore[arg-type]
    if info is None:
        raise AccountError(
            409,
            "only a dashboard session switches teams; an API token acts in its own team (or X-Rivetr-Team)",
            code="not_a_session",
        )
    team_id = await accounts().switch_team(info.user, info.session.id, data.team_id)
    return await _answer(await accounts().principals.for_user(principal.name, info.user, chosen=team_id))
