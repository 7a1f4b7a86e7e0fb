"""Who a dashboard session or an API token is, as a :class:`~.permissions.Principal` (issue 20's roles).

For a user: the server role (``is_server_owner`` → owner, ``role == "admin"`` → admin, anything else none), the
acting team (the ``X-Rivetr-Team`` header, id or name; else the session's switcher choice or the token's team;
else the user's first team; a server owner/admin with none of these acts in every team), the role in it (server
owners/admins act as its owner), the visible teams, and a token's scopes and app/project restriction. A disabled
user is refused (401 ``account_disabled``); a team with ``require_2fa`` gives a user without two-factor login no
team rights (403 ``two_factor_required`` on the routes that need them).

The user's memberships are remembered per user for :data:`MEMBERSHIP_CACHE_SECONDS` (a role change takes
effect within that time, without logging in again) and forgotten at once when this process changes a membership
(:func:`memberships_changed`, called by the team service), so a request costs no extra query in the common case.
Loaded on the first request of a user, never at start-up (idle memory).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from rivetr_core.errors import ApiError, not_found
from rivetr_core.ttlcache import TtlCache

from .permissions import Principal

if TYPE_CHECKING:
    from rivetr_core.db import Database
    from rivetr_core.models.accounts import ApiToken, User, UserSession

#: The request header naming the team a request acts in (id or name).
TEAM_HEADER = "X-Rivetr-Team"
MEMBERSHIP_CACHE_SECONDS = 5.0
CACHE_SIZE = 4096

_generation = 0


def memberships_changed() -> None:
    """Forget every cached membership (a member added, removed or given another role; a team's ``require_2fa``
    changed; a team deleted). A counter, so a lookup that began before the change is not cached after it."""
    global _generation
    _generation += 1


@dataclass(frozen=True, slots=True)
class TeamRef:
    """A team as resolution needs it, with the user's role in it (None: not a member)."""

    id: str
    name: str
    require_2fa: bool
    role: str | None = None


_MEMBERSHIPS = sa.text(
    "SELECT m.team_id, t.name, t.require_2fa, m.role FROM team_members m JOIN teams t ON t.id = m.team_id"
    " WHERE m.user_id = :user_id ORDER BY m.created_at, m.id"
)
_TEAM = sa.text("SELECT id, name, require_2fa FROM teams WHERE id = :ref OR name = :ref ORDER BY id LIMIT 1")


def server_role(user: User) -> str | None:
    if user.is_server_owner:
        return "owner"
    return "admin" if user.role == "admin" else None


def account_disabled() -> ApiError:
    return ApiError(
        401, "this account is disabled: ask a server administrator to enable it", code="account_disabled"
    )


def split_scopes(value: str | None) -> frozenset[str]:
    return frozenset(s for s in (value or "").split(",") if s)


class PrincipalResolver:
    """Builds Principals for one app's database; the membership and team caches live here (one per app)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._cache: TtlCache[Any] = TtlCache(MEMBERSHIP_CACHE_SECONDS, CACHE_SIZE)

    # ------------------------------------------------------------------------------------------- lookups
    async def _cached(self, kind: str, key: str, query: sa.TextClause, params: dict[str, str]) -> Any:
        async def load() -> Any:
            async with self.db.engine.connect() as conn:  # Core, not an ORM session: no team filter applies
                rows = (await conn.execute(query, params)).all()
            if kind == "members":
                return tuple(TeamRef(r[0], r[1], bool(r[2]), r[3]) for r in rows)
            return TeamRef(rows[0][0], rows[0][1], bool(rows[0][2])) if rows else None

        return await self._cache.get((kind, key), load, generation=_generation)

    async def memberships(self, user_id: str) -> tuple[TeamRef, ...]:
        """The user's teams with their role in each, in the order they joined."""
        result: tuple[TeamRef, ...] = await self._cached(
            "members", user_id, _MEMBERSHIPS, {"user_id": user_id}
        )
        return result

    async def team(self, ref: str) -> TeamRef | None:
        """Any team, by id or name."""
        result: TeamRef | None = await self._cached("team", ref, _TEAM, {"ref": ref})
        return result

    async def available_teams(self, user: User | None) -> list[TeamRef]:
        """The teams a user may act in: their own; every team for a server owner/admin (and the admin token)."""
        if user is not None and server_role(user) is None:
            return list(await self.memberships(user.id))
        async with self.db.engine.connect() as conn:
            rows = (
                await conn.execute(sa.text("SELECT id, name, require_2fa FROM teams ORDER BY name"))
            ).all()
        roles = {m.id: m.role for m in await self.memberships(user.id)} if user is not None else {}
        return [TeamRef(r[0], r[1], bool(r[2]), roles.get(r[0])) for r in rows]

    # ------------------------------------------------------------------------------------------- principals
    async def for_admin(self, name: str, requested: str | None) -> Principal:
        """The admin token: every right over every team, or over the one team the header names."""
        if not requested:
            return Principal.full(name)
        team = await self.team(requested)
        if team is None:
            raise not_found("team", requested)
        return Principal(name, team_id=team.id, team_ids=frozenset({team.id}))

    async def for_session(self, user: User, session: UserSession, requested: str | None) -> Principal:
        return await self.for_user(
            f"user:{user.username}", user, requested=requested, chosen=session.current_team_id
        )

    async def for_token(self, token: ApiToken, user: User | None, requested: str | None) -> Principal:
        """A token acts in its own team only (a header naming another is a 404); its scopes and restrictions
        narrow its user's current rights (owner-less tokens, made with the admin token, are server owners)."""
        name = f"token:{user.username if user else 'admin'}/{token.name}"
        restrictions: dict[str, Any] = {
            "scopes": split_scopes(token.scopes),
            "app_ids": frozenset(token.app_ids) if token.app_ids is not None else None,
            "project_ids": frozenset(token.project_ids) if token.project_ids is not None else None,
        }
        if token.team_id is not None and requested and requested != token.team_id:
            team = await self.team(requested)
            if team is None or team.id != token.team_id:
                raise not_found("team", requested)
        requested = token.team_id or requested
        if user is not None:
            return await self.for_user(
                name, user, requested=requested, bound=token.team_id is not None, **restrictions
            )
        team = await self.team(requested) if requested else None
        if requested and team is None:
            if token.team_id is None:
                raise not_found("team", requested)
            # The token's team was deleted: nothing left that needs a team.
            return Principal(name, team_role=None, team_ids=frozenset(), **restrictions)
        return Principal(
            name,
            team_id=team.id if team else None,
            team_ids=frozenset({team.id}) if team else None,
            **restrictions,
        )

    async def for_user(
        self,
        name: str,
        user: User,
        *,
        requested: str | None = None,
        chosen: str | None = None,
        bound: bool = False,
        scopes: frozenset[str] | None = None,
        app_ids: frozenset[str] | None = None,
        project_ids: frozenset[str] | None = None,
    ) -> Principal:
        """``requested``: the header (or a token's team); ``chosen``: the session's switcher choice, ignored
        when it is no longer valid; ``bound``: a token's team, which gives no rights once the user left it."""
        if user.disabled:
            raise account_disabled()
        role_on_server = server_role(user)
        teams = await self.memberships(user.id)
        acting: TeamRef | None = None
        if requested:
            acting = await self._pick(teams, requested, role_on_server is not None)
            if acting is None:
                if not bound:
                    raise not_found("team", requested)
                # The token's user left its team: the token keeps only what needs no team.
                return self._principal(
                    name, user, role_on_server, None, scopes, app_ids, project_ids, none=True
                )
        elif chosen:
            acting = await self._pick(teams, chosen, role_on_server is not None)
        if acting is None and role_on_server is None and teams:
            acting = teams[0]
        if acting is None:
            return self._principal(
                name, user, role_on_server, None, scopes, app_ids, project_ids, none=role_on_server is None
            )
        return self._principal(name, user, role_on_server, acting, scopes, app_ids, project_ids)

    async def _pick(self, teams: tuple[TeamRef, ...], ref: str, any_team: bool) -> TeamRef | None:
        for team in teams:
            if ref in (team.id, team.name):
                return team
        return await self.team(ref) if any_team else None

    @staticmethod
    def _principal(
        name: str,
        user: User,
        role_on_server: str | None,
        acting: TeamRef | None,
        scopes: frozenset[str] | None,
        app_ids: frozenset[str] | None,
        project_ids: frozenset[str] | None,
        *,
        none: bool = False,
    ) -> Principal:
        """``acting`` None: every team for a server owner/admin, or (``none``) no team at all."""
        common: dict[str, Any] = {
            "server_role": role_on_server,
            "scopes": scopes,
            "user_id": user.id,
            "app_ids": app_ids,
            "project_ids": project_ids,
        }
        if acting is None:
            if none:
                return Principal(name, team_role=None, team_ids=frozenset(), **common)
            return Principal(name, team_role="owner", **common)
        role = "owner" if role_on_server is not None else acting.role
        needs_two_factor = acting.require_2fa and not user.two_factor_enabled
        return Principal(
            name,
            team_role=None if needs_two_factor else role,
            team_id=acting.id,
            team_ids=frozenset({acting.id}),
            needs_two_factor=needs_two_factor,
            **common,
        )
