"""Teams: a team owns projects (and through them apps, services, stacks, volumes, backups and domains); users
belong to teams with one role per team.

Not imported at start-up (idle memory): the team service and the migrations' environment import it. A project
names its team by ``projects.team_id``; a fresh or migrated install has the team
:data:`rivetr_core.models.apps.DEFAULT_TEAM_ID`, which owns every project created without a team.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from rivetr_core.authz.permissions import TEAM_ROLES
from rivetr_core.db.engine import new_id, utcnow

#: Roles per team, most powerful first: the role table's (what each allows: docs/permissions.md), so a stored role
#: is always one the permission check knows.
ROLES = tuple(TEAM_ROLES)


class Team(SQLModel, table=True):
    __tablename__ = "teams"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    name: str = Field(unique=True, max_length=63)
    #: Members must have two-factor login before they may act on the team (enforced once 2FA exists).
    require_2fa: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class TeamMember(SQLModel, table=True):
    """A user's role in a team; a user has at most one row per team."""

    __tablename__ = "team_members"
    __table_args__ = (UniqueConstraint("team_id", "user_id", name="uq_team_members_team_user"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    team_id: str = Field(foreign_key="teams.id", ondelete="CASCADE", index=True, max_length=32)
    user_id: str = Field(foreign_key="users.id", ondelete="CASCADE", index=True, max_length=32)
    role: str = Field(max_length=16)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
