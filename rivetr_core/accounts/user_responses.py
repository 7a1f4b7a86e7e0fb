"""Users (as administrators see them) and one-time links (invitations, password resets) as the API shows them.

Light on purpose: the users and invitations APIs import it at start-up for their OpenAPI models, while the services
and the invitations table load with the first request that needs them (idle memory). Each ``*_json`` builds its JSON
through the matching model, so ``/openapi.json`` and what the server answers cannot drift apart. Nothing here
carries a secret: a link's token is added once, when it is made (:func:`new_link_json`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from rivetr_core.apimodel import ApiModel
from rivetr_core.authz.principals import server_role
from rivetr_core.db.engine import isoformat

if TYPE_CHECKING:
    from rivetr_core.models.accounts import User
    from rivetr_core.models.invitations import Invitation

SERVER_ROLE_DOC = (
    "Server-wide role: owner (every right; only another owner may demote, disable or delete one), admin (server "
    "settings and every team), or null (rights only through team roles)."
)


class UserTeamOut(ApiModel):
    team_id: str
    name: str
    role: str = Field(description="The user's role in this team.")


class UserAdminOut(ApiModel):
    id: str
    username: str
    role: str = Field(description="Stored server role: admin or member (a server owner is also admin).")
    server_role: Literal["owner", "admin"] | None = Field(description=SERVER_ROLE_DOC)
    is_server_owner: bool
    disabled: bool = Field(description="A disabled user cannot log in; their sessions and tokens answer 401.")
    two_factor_enabled: bool
    teams: list[UserTeamOut] = Field(description="Teams the user belongs to (those the caller can see).")
    created_at: str
    last_login_at: str | None


class InvitationOut(ApiModel):
    id: str
    kind: Literal["invite", "password_reset"] = Field(
        description="invite: a new user joins team_id with role; password_reset: user_id sets a new password."
    )
    email: str | None = Field(
        description="Recorded only: Rivetr sends no mail, the inviter hands the link over."
    )
    username: str | None = Field(
        description="invite: the suggested user name (the invitee may pick another); reset: whose password."
    )
    user_id: str | None
    team_id: str | None
    team_name: str | None
    role: str | None = Field(description="The team role the invited user gets.")
    created_by: str
    created_at: str
    expires_at: str


class NewInvitationOut(InvitationOut):
    token: str = Field(description="The link's secret: shown this once, stored only as its sha256.")
    url: str = Field(
        description="The link to hand over: <[server] external_url, else this server's address>/invite/<token> "
        "(/reset/<token> for a password reset)."
    )


class InvitationPublicOut(ApiModel):
    """What the link itself reveals to whoever holds it (the page behind the link shows it)."""

    kind: Literal["invite", "password_reset"]
    team_id: str | None
    team_name: str | None
    role: str | None
    username: str | None
    email: str | None
    expires_at: str


def user_admin_json(user: User, teams: list[tuple[str, str, str]]) -> dict[str, Any]:
    """``teams``: (team id, team name, role) of the memberships to show."""
    return UserAdminOut.model_validate(
        {
            "id": user.id,
            "username": user.username,
            "role": user.role,
            "server_role": server_role(user),
            "is_server_owner": user.is_server_owner,
            "disabled": user.disabled,
            "two_factor_enabled": user.two_factor_enabled,
            "teams": [{"team_id": t, "name": n, "role": r} for t, n, r in teams],
            "created_at": isoformat(user.created_at),
            "last_login_at": isoformat(user.last_login_at),
        }
    ).model_dump(mode="json")


def invitation_json(row: Invitation, team_name: str | None) -> dict[str, Any]:
    return InvitationOut.model_validate(
        {
            "id": row.id,
            "kind": row.kind,
            "email": row.email,
            "username": row.username,
            "user_id": row.user_id,
            "team_id": row.team_id,
            "team_name": team_name,
            "role": row.role,
            "created_by": row.created_by,
            "created_at": isoformat(row.created_at),
            "expires_at": isoformat(row.expires_at),
        }
    ).model_dump(mode="json")


def new_link_json(row: Invitation, team_name: str | None, raw: str, url: str) -> dict[str, Any]:
    """A link just made, with its token and URL (the only time they are shown)."""
    return NewInvitationOut.model_validate(
        {**invitation_json(row, team_name), "token": raw, "url": url}
    ).model_dump(mode="json")


def public_link_json(row: Invitation, team_name: str | None) -> dict[str, Any]:
    return InvitationPublicOut.model_validate(
        {
            "kind": row.kind,
            "team_id": row.team_id,
            "team_name": team_name,
            "role": row.role,
            "username": row.username,
            "email": row.email,
            "expires_at": isoformat(row.expires_at),
        }
    ).model_dump(mode="json")
