"""Teams and members as the API shows them; light, so the teams API imports it at start-up while the team service
and its tables load with the first teams request (idle memory).

:func:`team_json` and :func:`member_json` build their JSON through the models here, so ``/openapi.json`` (which
documents them) and what the server answers cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import Field

from rivetr_core.apimodel import ApiModel
from rivetr_core.authz.permissions import TEAM_ROLES
from rivetr_core.db import isoformat
from rivetr_core.models.apps import DEFAULT_TEAM_ID

if TYPE_CHECKING:
    from rivetr_core.models.accounts import User
    from rivetr_core.models.teams import Team, TeamMember

ROLE_DOC = f"One of {', '.join(TEAM_ROLES)}."


class TeamOut(ApiModel):
    id: str
    name: str = Field(description="DNS-safe, unique among teams.")
    require_2fa: bool = Field(description="Members must use two-factor login (enforced once 2FA exists).")
    default: bool = Field(description="The team projects created without team_id go to; cannot be deleted.")
    member_count: int
    project_ids: list[str] = Field(description="Ids of the projects the team owns, by project name.")
    created_at: str
    updated_at: str


class TeamMemberOut(ApiModel):
    team_id: str
    user_id: str
    username: str
    role: str = Field(description=ROLE_DOC)
    two_factor_enabled: bool = Field(
        description="Whether the user has two-factor login on (in a team with require_2fa, a member without it has "
        "no rights there until they enrol)."
    )
    created_at: str
    updated_at: str


@dataclass
class TeamInfo:
    team: Team
    member_count: int
    project_ids: list[str]


def team_json(info: TeamInfo) -> dict[str, Any]:
    team = info.team
    return TeamOut.model_validate(
        {
            "id": team.id,
            "name": team.name,
            "require_2fa": team.require_2fa,
            "default": team.id == DEFAULT_TEAM_ID,
            "member_count": info.member_count,
            "project_ids": info.project_ids,
            "created_at": isoformat(team.created_at),
            "updated_at": isoformat(team.updated_at),
        }
    ).model_dump(mode="json")


def member_json(member: TeamMember, user: User | None) -> dict[str, Any]:
    return TeamMemberOut.model_validate(
        {
            "team_id": member.team_id,
            "user_id": member.user_id,
            "username": user.username if user is not None else "",
            "role": member.role,
            "two_factor_enabled": bool(user is not None and user.two_factor_enabled),
            "created_at": isoformat(member.created_at),
            "updated_at": isoformat(member.updated_at),
        }
    ).model_dump(mode="json")
