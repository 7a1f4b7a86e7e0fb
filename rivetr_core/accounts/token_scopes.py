"""What a new API token may be: the rules ``POST /api/tokens`` checks before :meth:`AccountService.create_token`.

* ``scopes``: a token made with another token reaches no further than that token's scopes (only ``admin`` may
  make tokens at all, since the route needs ``account``), and never a wider team or restriction than it has.
* ``team_id``: a team the user belongs to (server owners/admins and the admin token: any team); by id or name.
* ``app_ids`` / ``project_ids``: must exist in that team (404 naming the field). Without ``team_id`` the team is
  theirs (so the token acts where they live); apps or projects of several teams are refused (one token per team).

That a token never exceeds its user's *current* role is not checked here but on every request (the scopes are
intersected with the user's rights then). Loaded with the first token created (idle memory).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlmodel import col, select

from rivetr_core.models.apps import DEFAULT_TEAM_ID, App, Project

from .service import AccountError

if TYPE_CHECKING:
    from rivetr_core.authz.permissions import Principal
    from rivetr_core.authz.principals import PrincipalResolver
    from rivetr_core.db import Database
    from rivetr_core.models.accounts import User


@dataclass
class TokenGrant:
    """The checked team and restrictions of a new token."""

    team_id: str | None
    app_ids: list[str] | None
    project_ids: list[str] | None


def _unique(ids: Sequence[str] | None) -> list[str] | None:
    return None if ids is None else list(dict.fromkeys(i.strip() for i in ids if i.strip()))


async def check_new_token(
    db: Database,
    resolver: PrincipalResolver,
    caller: Principal,
    user: User | None,
    scopes: Sequence[str],
    team_ref: str | None,
    app_ids: Sequence[str] | None,
    project_ids: Sequence[str] | None,
) -> TokenGrant:
    from rivetr_core.authz.permissions import SCOPES
    from rivetr_core.authz.principals import server_role

    def reach(names: Sequence[str] | frozenset[str]) -> set[str]:
        return set().union(*(SCOPES[name] for name in names))

    if caller.scopes is not None and not reach(scopes) <= reach(caller.scopes):
        raise AccountError(
            403,
            f"a token can only make tokens with its own scopes ({', '.join(sorted(caller.scopes))})",
            field="scopes",
            code="scope_exceeded",
        )
    apps, projects = _unique(app_ids), _unique(project_ids)
    team_id = await _team(resolver, user, server_role(user) if user else "owner", team_ref)
    if caller.scopes is not None and caller.team_id is not None and team_id not in (None, caller.team_id):
        raise AccountError(403, "a token can only make tokens for its own team", field="team_id")
    owners: dict[str, str] = {}
    async with db.session() as s:
        if apps:
            rows = await s.exec(
                select(App.id, Project.team_id)
                .outerjoin(Project, col(Project.id) == col(App.project_id))
                .where(col(App.id).in_(apps))
            )
            found = {app_id: team or DEFAULT_TEAM_ID for app_id, team in rows.all()}
            _all_found("app_ids", apps, found, team_id)
            owners.update(found)
        if projects:
            rows = await s.exec(select(Project.id, Project.team_id).where(col(Project.id).in_(projects)))
            found = dict(rows.all())
            _all_found("project_ids", projects, found, team_id)
            owners.update(found)
    if team_id is None and owners:
        teams = set(owners.values())
        if len(teams) > 1:
            raise AccountError(
                422,
                "belong to several teams: make one token per team (or name team_id)",
                field="app_ids" if apps else "project_ids",
            )
        team_id = teams.pop()
        if user is not None and server_role(user) is None:
            mine = {m.id for m in await resolver.memberships(user.id)}
            if team_id not in mine:
                raise AccountError(404, "not found", field="app_ids" if apps else "project_ids")
    for field, wanted, allowed in (
        ("app_ids", apps, caller.app_ids),
        ("project_ids", projects, caller.project_ids),
    ):
        if (
            caller.scopes is not None
            and allowed is not None
            and (wanted is None or not set(wanted) <= allowed)
        ):
            raise AccountError(403, "a token can only make tokens within its own restriction", field=field)
    return TokenGrant(team_id, apps, projects)


async def _team(
    resolver: PrincipalResolver, user: User | None, role_on_server: str | None, ref: str | None
) -> str | None:
    if not ref:
        return None
    if role_on_server is None and user is not None:
        for team in await resolver.memberships(user.id):
            if ref in (team.id, team.name):
                return team.id
        raise AccountError(404, f"no team {ref!r} of yours", field="team_id")
    found = await resolver.team(ref)
    if found is None:
        raise AccountError(404, f"no team {ref!r}", field="team_id")
    return found.id


def _all_found(field: str, wanted: list[str], found: dict[str, str], team_id: str | None) -> None:
    missing = [i for i in wanted if i not in found or (team_id is not None and found[i] != team_id)]
    if missing:
        where = " in that team" if team_id is not None else ""
        raise AccountError(404, f"no such id{where}: {', '.join(missing)}", field=field)
