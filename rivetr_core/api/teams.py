"""``/api/teams``: teams own projects; members have one role per team (owner, admin, developer, viewer).

Members are addressed as ``/api/teams/{team_id}/members/{user}`` where ``{user}`` is a user id or a username.
A team owning projects cannot be deleted (409 naming them), nor can the default team; the last owner of a team can
be neither demoted nor removed (409 ``last_owner``). Roles are recorded, not enforced yet (docs/teams.md).

Each route's permission is declared in rivetr_core/authz/routes.py with every other core route's.

Thin handlers over :class:`~rivetr_core.services.teams.TeamService` (``ctx.services.teams``, built with the first
teams request: only the response models of :mod:`rivetr_core.services.team_responses` load at start-up).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from quart import Blueprint, Response, g
from quart_schema import document_response, tag, validate_querystring, validate_request

from rivetr_core.apimodel import document_alternatives
from rivetr_core.authz.permissions import TEAM_ROLES
from rivetr_core.context import rivetr
from rivetr_core.pagination import PageQuery, envelope, page_model
from rivetr_core.services.team_responses import ROLE_DOC, TeamMemberOut, TeamOut, team_json
from rivetr_core.validation import check_name

from .appschema import _document_checks, _Strict

if TYPE_CHECKING:
    from rivetr_core.services.teams import TeamService

bp = Blueprint("teams_api", __name__, url_prefix="/api/teams")
TeamPage = page_model(TeamOut, "TeamPage")
TeamMemberPage = page_model(TeamMemberOut, "TeamMemberPage")


class TeamIn(_Strict):
    name: str = Field(description="DNS-safe, unique among teams.")
    require_2fa: bool = Field(
        False, description="Members must use two-factor login (enforced once 2FA exists)."
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_name(v)


class TeamUpdate(_Strict):
    name: str | None = None
    require_2fa: bool | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        return None if v is None else check_name(v)


def _one_user(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """The document says what the validator below checks: exactly one of ``user_id`` and ``username``, a string
    (a client following the document is never refused)."""
    _document_checks(schema, model)
    document_alternatives(schema, ("user_id", "username"))


class TeamMemberIn(_Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_one_user)

    user_id: str | None = Field(None, min_length=1, max_length=64, description="The user's id (or username).")
    username: str | None = Field(
        None, min_length=1, max_length=64, description="The user's name (or user_id)."
    )
    role: str = Field(description=ROLE_DOC, json_schema_extra={"enum": list(TEAM_ROLES)})

    @model_validator(mode="after")
    def _exactly_one(self) -> TeamMemberIn:
        if (self.user_id is None) == (self.username is None):
            raise ValueError("give exactly one of user_id and username")
        return self


class TeamRoleIn(_Strict):
    role: str = Field(description=ROLE_DOC, json_schema_extra={"enum": list(TEAM_ROLES)})


def _teams() -> TeamService:
    return rivetr().services.teams


@bp.get("")
@tag(["teams"])
@validate_querystring(PageQuery)
@document_response(TeamPage)
async def list_teams(query_args: PageQuery) -> dict[str, Any]:
    """Teams in creation order, a page at a time (``{"items", "next"}``; pass ``next`` back as ``?cursor=``),
    each with its member count and the ids of its projects."""
    rows, next_cursor = await _teams().page(query_args)
    return envelope([team_json(info) for info in rows], next_cursor)


@bp.post("")
@tag(["teams"])
@validate_request(TeamIn)
@document_response(TeamOut, 201)
async def create_team(data: TeamIn) -> tuple[dict[str, Any], int]:
    """Create a team; a user creating it (session or the user's token) becomes its owner. 409 when the name is
    taken."""
    user = getattr(g, "rivetr_user", None)
    info = await _teams().create(data.name, data.require_2fa, owner_id=user.id if user is not None else None)
    return team_json(info), 201


@bp.get("/<team_id>")
@tag(["teams"])
@document_response(TeamOut)
async def get_team(team_id: str) -> dict[str, Any]:
    return team_json(await _teams().get(team_id))


@bp.put("/<team_id>")
@tag(["teams"])
@validate_request(TeamUpdate)
@document_response(TeamOut)
async def update_team(team_id: str, data: TeamUpdate) -> dict[str, Any]:
    """Rename the team and/or change ``require_2fa``; omitted fields keep their value."""
    return team_json(await _teams().update(team_id, data.model_dump()))


@bp.delete("/<team_id>")
@tag(["teams"])
async def delete_team(team_id: str) -> Response:
    """409 (``team_not_empty``, naming them) while the team owns projects, (``default_team``) for the default
    team."""
    await _teams().delete(team_id)
    return Response(status=204)


@bp.get("/<team_id>/members")
@tag(["teams"])
@validate_querystring(PageQuery)
@document_response(TeamMemberPage)
async def list_members(team_id: str, query_args: PageQuery) -> dict[str, Any]:
    """The team's members in the order they joined, a page at a time, with their role."""
    rows, next_cursor = await _teams().members(team_id, query_args)
    return envelope(rows, next_cursor)


@bp.post("/<team_id>/members")
@tag(["teams"])
@validate_request(TeamMemberIn)
@document_response(TeamMemberOut, 201)
async def add_member(team_id: str, data: TeamMemberIn) -> tuple[dict[str, Any], int]:
    """Add a user (``user_id`` or ``username``) with a role; 404 naming the field for no such user, 409 when
    the user is already a member."""
    field, ref = ("user_id", data.user_id) if data.user_id is not None else ("username", data.username)
    return await _teams().add_member(team_id, ref or "", data.role, field=field), 201


@bp.get("/<team_id>/members/<user>")
@tag(["teams"])
@document_response(TeamMemberOut)
async def get_member(team_id: str, user: str) -> dict[str, Any]:
    """One member (``user``: id or username); 404 when the user is not a member."""
    return await _teams().member(team_id, user)


@bp.put("/<team_id>/members/<user>")
@tag(["teams"])
@validate_request(TeamRoleIn)
@document_response(TeamMemberOut)
async def set_member_role(team_id: str, user: str, data: TeamRoleIn) -> dict[str, Any]:
    """Change a member's role; 409 (``last_owner``) when it would leave the team without an owner."""
    return await _teams().set_role(team_id, user, data.role)


@bp.delete("/<team_id>/members/<user>")
@tag(["teams"])
async def remove_member(team_id: str, user: str) -> Response:
    """Remove a member; 409 (``last_owner``) for the team's last owner."""
    await _teams().remove_member(team_id, user)
    return Response(status=204)
