"""``TeamService``: teams, which own projects, and their members' roles.

* ``await teams.page(page) -> ([TeamInfo], next)`` / ``get(team_id) -> TeamInfo`` (``NotFound``).
* ``await teams.create(name, require_2fa=False, owner_id=None)`` — ``Conflict`` on a taken ``name``; ``owner_id``
  (the creating user, when a user creates it) becomes its first owner.
* ``await teams.update(team_id, fields)`` — ``name`` and ``require_2fa``; ``delete(team_id)`` — ``Conflict``
  (``team_not_empty``) naming the projects it still owns, (``default_team``) for the default team.
* Members: ``members(team_id, page)``, ``add_member(team_id, user_ref, role)``, ``set_role``, ``remove_member``
  — a user is named by id or username; the last owner can be neither demoted nor removed (``Conflict``,
  ``last_owner``).

Who may call what is not decided here (permission checks are a separate layer, docs/permissions.md). Built on
first use as ``ctx.services.teams``: neither this module nor the team tables load at start-up (idle memory); the
API's response models are in :mod:`.team_responses`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from rivetr_core.authz.principals import memberships_changed
from rivetr_core.contract.errors import Conflict, NotFound, ValidationFailed
from rivetr_core.db import utcnow
from rivetr_core.models.accounts import User
from rivetr_core.models.apps import DEFAULT_TEAM_ID, Project
from rivetr_core.models.teams import ROLES, Team, TeamMember
from rivetr_core.services.team_responses import TeamInfo, member_json

if TYPE_CHECKING:
    from rivetr_core.context import RivetrContext
    from rivetr_core.pagination import PageQuery

#: Fields ``update`` may change (absent or null keeps the stored value).
UPDATABLE_FIELDS = ("name", "require_2fa")


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValidationFailed.on("role", f"must be one of {', '.join(ROLES)}", available=list(ROLES))
    return role


def first_owner_membership(user_id: str) -> TeamMember:
    """The row that makes the first user (first-run setup) owner of the default team."""
    return TeamMember(team_id=DEFAULT_TEAM_ID, user_id=user_id, role="owner")


def _name_taken(name: str) -> Conflict:
    return Conflict.on("name", "already taken", summary=f"a team named {name!r} already exists")


def _last_owner(team: Team) -> Conflict:
    return Conflict(
        f"team {team.name!r} would have no owner left; make another member owner first",
        code="last_owner",
        details=[{"field": "role", "message": "the last owner of a team cannot be demoted or removed"}],
    )


class TeamService:
    def __init__(self, ctx: RivetrContext) -> None:
        self.ctx = ctx

    # ------------------------------------------------------------------------------------------- teams
    async def page(self, page: PageQuery) -> tuple[list[TeamInfo], str | None]:
        """One page of teams in creation order with their member counts and project ids."""
        from rivetr_core.pagination import keyset_page

        async with self.ctx.db.session() as session:
            teams, next_cursor = await keyset_page(session, select(Team), Team, page)
            infos = await self._infos(session, teams)
        return infos, next_cursor

    async def get(self, team_id: str) -> TeamInfo:
        async with self.ctx.db.session() as session:
            return (await self._infos(session, [await self._team(session, team_id)]))[0]

    async def create(self, name: str, require_2fa: bool = False, owner_id: str | None = None) -> TeamInfo:
        team = Team(name=name, require_2fa=require_2fa)
        try:
            async with self.ctx.db.session() as session:
                session.add(team)
                await session.flush()  # the team row first: the membership references it
                if owner_id is not None:
                    session.add(TeamMember(team_id=team.id, user_id=owner_id, role="owner"))
                await session.commit()
        except IntegrityError:
            raise _name_taken(name) from None
        return await self.get(team.id)

    async def update(self, team_id: str, fields: Mapping[str, Any]) -> TeamInfo:
        changes = {k: v for k, v in fields.items() if k in UPDATABLE_FIELDS and v is not None}
        try:
            async with self.ctx.db.session() as session:
                team = await self._team(session, team_id)
                for key, value in changes.items():
                    setattr(team, key, value)
                team.updated_at = utcnow()
                session.add(team)
                await session.commit()
        except IntegrityError:
            raise _name_taken(changes.get("name", "")) from None
        memberships_changed()  # a name or require_2fa the principals of its members carry
        return await self.get(team_id)

    async def delete(self, team_id: str) -> None:
        """Refused while the team owns projects (they are moved or deleted first: a project never loses its
        owner silently), and for the default team, which projects created without a team go to."""
        async with self.ctx.db.session() as session:
            team = await self._team(session, team_id)
            if team.id == DEFAULT_TEAM_ID:
                raise Conflict(
                    "the default team cannot be deleted: projects created without team_id go to it",
                    code="default_team",
                )
            names = list(
                (
                    await session.exec(
                        select(Project.name).where(Project.team_id == team_id).order_by(col(Project.name))
                    )
                ).all()
            )
            if names:
                raise Conflict(
                    f"team {team.name!r} still owns {len(names)} project(s) ({', '.join(names)}); move them to "
                    "another team (PUT /api/projects/{id} with team_id) or delete them first",
                    code="team_not_empty",
                    details={"projects": names},
                )
            await session.delete(team)
            try:
                await session.commit()
            except IntegrityError:  # a project moved in meanwhile (PostgreSQL's foreign key refuses)
                raise Conflict(f"team {team.name!r} owns projects again", code="team_not_empty") from None
        memberships_changed()

    # ------------------------------------------------------------------------------------------- members
    async def members(self, team_id: str, page: PageQuery) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the team's members (in the order they joined) as the API shows them."""
        from rivetr_core.pagination import keyset_page

        async with self.ctx.db.session() as session:
            await self._team(session, team_id)
            query = select(TeamMember).where(TeamMember.team_id == team_id)
            rows, next_cursor = await keyset_page(session, query, TeamMember, page)
            users = await self._users(session, [m.user_id for m in rows])
        return [member_json(m, users.get(m.user_id)) for m in rows], next_cursor

    async def member(self, team_id: str, user_ref: str) -> dict[str, Any]:
        async with self.ctx.db.session() as session:
            team = await self._team(session, team_id)
            user = await self._user(session, user_ref, "user")
            member = await self._membership(session, team, user)
        return member_json(member, user)

    async def add_member(
        self, team_id: str, user_ref: str, role: str, *, field: str = "user_id"
    ) -> dict[str, Any]:
        """Add a user (by id or username; ``field`` names the input for errors) with ``role``; 409 when the user
        already belongs to the team."""
        check_role(role)
        try:
            async with self.ctx.db.session() as session:
                team = await self._team(session, team_id)
                user = await self._user(session, user_ref, field)
                member = TeamMember(team_id=team.id, user_id=user.id, role=role)
                session.add(member)
                await session.commit()
        except IntegrityError:
            raise Conflict.on(
                field, "already a member", summary=f"{user_ref!r} is already a member of this team"
            ) from None
        memberships_changed()
        return member_json(member, user)

    async def set_role(self, team_id: str, user_ref: str, role: str) -> dict[str, Any]:
        check_role(role)
        async with self.ctx.db.session() as session:
            team = await self._team(session, team_id)
            user = await self._user(session, user_ref, "user")
            member = await self._membership(session, team, user)
            demoted = member.role == "owner" and role != "owner"
            member.role = role
            member.updated_at = utcnow()
            session.add(member)
            await session.flush()
            # Only a demotion can leave no owner: a team the admin token made has none yet, and its members'
            # other role changes must not be refused for it.
            if demoted:
                await self._keep_an_owner(session, team)
            await session.commit()
        memberships_changed()  # the new role applies from the member's next request
        return member_json(member, user)

    async def remove_member(self, team_id: str, user_ref: str) -> None:
        async with self.ctx.db.session() as session:
            team = await self._team(session, team_id)
            user = await self._user(session, user_ref, "user")
            member = await self._membership(session, team, user)
            was_owner = member.role == "owner"
            await session.delete(member)
            await session.flush()
            if was_owner:
                await self._keep_an_owner(session, team)
            await session.commit()
        memberships_changed()

    # ------------------------------------------------------------------------------------------- helpers
    async def _keep_an_owner(self, session: Any, team: Team) -> None:
        """After the change is written (not before: on SQLite the write takes the database's write lock, so two
        concurrent demotions are counted one after the other and cannot both pass), refuse a team left with
        no owner. The caller's transaction is rolled back by the exception."""
        # PostgreSQL lets two transactions write at once: lock the team's row so that concurrent demotions count
        # one after the other, each seeing the other's committed change (SQLite's compiler omits FOR UPDATE).
        await session.exec(select(Team.id).where(Team.id == team.id).with_for_update())
        owners = (
            await session.exec(
                select(sa.func.count())
                .select_from(TeamMember)
                .where(TeamMember.team_id == team.id, TeamMember.role == "owner")
            )
        ).one()
        if not owners:
            error = _last_owner(team)  # before the rollback expires the team's attributes
            await session.rollback()
            raise error

    async def _infos(self, session: Any, teams: list[Team]) -> list[TeamInfo]:
        """The teams with their member counts and project ids: two queries for the whole page."""
        ids = [team.id for team in teams]
        counts = dict(
            (
                await session.exec(
                    select(TeamMember.team_id, sa.func.count())
                    .where(col(TeamMember.team_id).in_(ids))
                    .group_by(col(TeamMember.team_id))
                )
            ).all()
        )
        projects: dict[str, list[str]] = {}
        for team_id, project_id in (
            await session.exec(
                select(Project.team_id, Project.id)
                .where(col(Project.team_id).in_(ids))
                .order_by(col(Project.name))
            )
        ).all():
            projects.setdefault(team_id, []).append(project_id)
        return [TeamInfo(t, int(counts.get(t.id, 0)), projects.get(t.id, [])) for t in teams]

    async def _team(self, session: Any, team_id: str) -> Team:
        team: Team | None = await session.get(Team, team_id)
        if team is None:
            raise NotFound.of("team", team_id)
        return team

    async def _user(self, session: Any, ref: str, field: str) -> User:
        """A user by id or, failing that, by username; 404 naming ``field`` when neither matches."""
        user: User | None = await session.get(User, ref)
        if user is None:
            user = (await session.exec(select(User).where(User.username == ref))).first()
        if user is None:
            raise NotFound.on(field, f"no user with id or username {ref!r}")
        return user

    async def _membership(self, session: Any, team: Team, user: User) -> TeamMember:
        member: TeamMember | None = (
            await session.exec(
                select(TeamMember).where(TeamMember.team_id == team.id, TeamMember.user_id == user.id)
            )
        ).first()
        if member is None:
            raise NotFound(
                f"user {user.username!r} is not a member of team {team.name!r}",
                details={"team_id": team.id, "user_id": user.id},
            )
        return member

    async def _users(self, session: Any, user_ids: list[str]) -> dict[str, User]:
        rows = (await session.exec(select(User).where(col(User.id).in_(user_ids)))).all()
        return {u.id: u for u in rows}
