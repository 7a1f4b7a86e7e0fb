"""``/teams`` (the teams the caller can see, with member counts, projects, the caller's role and the 2FA requirement;
server owners and admins get a "New team" form) and ``/teams/<id>`` (one team's settings: members and their roles,
rename, the two-factor requirement, the team's API tokens, deleting the team).

Pages are rendered from the services under the request's visibility (the team the session acts in; every team for
server owners and admins), so another team's page is a 404 exactly as in the API. Every change is a REST call from
the browser (``static/js/teams.js``): the API's rules and messages apply unchanged and are shown next to the control.
"""

from __future__ import annotations

from typing import Any

from quart import abort, g

from rivetr_core import readmodels
from rivetr_core.authz import MEMBERS, SERVER, TEAM_ROLES

from ..blueprint import accounts, bp, ctx, render
from ..roles import page_principal

#: Teams and members a page lists (the API and CLI page through more).
LISTED = 200


def _user() -> Any:
    session = getattr(g, "ui_session", None)
    return session.user if session is not None else None


async def _roles_by_team() -> dict[str, str | None]:
    """The caller's own role in each team it may act in (None: a server owner/admin who is not a member)."""
    return {t.id: t.role for t in await accounts().principals.available_teams(_user())}


async def _project_names(ids: set[str]) -> dict[str, str]:
    return await readmodels.project_names(ctx().db, ids)


async def _team(team_id: str) -> dict[str, Any]:
    """The team as the API shows it, or the 404 page when it is not there or not visible to the caller."""
    from rivetr_core.contract.errors import NotFound
    from rivetr_core.services.team_responses import team_json

    try:
        info = await ctx().services.teams.get(team_id)
    except NotFound:
        abort(404, f"Team {team_id!r} not found.")
    return team_json(info)


async def _members(team_id: str) -> list[dict[str, Any]]:
    from rivetr_core.pagination import PageQuery

    rows, _next = await ctx().services.teams.members(team_id, PageQuery(limit=LISTED))
    return rows


async def _tokens(team_id: str) -> list[dict[str, Any]]:
    """The team's API tokens: everyone's for server owners and admins (``GET /api/tokens?all=true``), else the
    caller's own (the API lists no one else's tokens to a team member)."""
    from rivetr_core.accounts.responses import token_json

    everyone = (await page_principal()).server_role is not None
    rows = await accounts().list_tokens(_user(), everyone=everyone, team_id=team_id)
    return [token_json(t) for t in rows]


def _owner_usernames(members: list[dict[str, Any]]) -> dict[str, str]:
    return {m["user_id"]: m["username"] for m in members}


@bp.get("/teams")
async def teams() -> tuple[str, int]:
    from rivetr_core.pagination import PageQuery
    from rivetr_core.services.team_responses import team_json

    infos, _next = await ctx().services.teams.page(PageQuery(limit=LISTED))
    rows = [team_json(info) for info in infos]
    names = await _project_names({p for row in rows for p in row["project_ids"]})
    roles = await _roles_by_team()
    for row in rows:
        row["projects"] = [names.get(p, p) for p in row["project_ids"]]
        row["my_role"] = roles.get(row["id"])
    return await render(
        "teams.html", nav="teams", teams=rows, may_create=(await page_principal()).allows(SERVER)
    )


@bp.get("/teams/<team_id>")
async def team_detail(team_id: str) -> tuple[str, int]:
    team = await _team(team_id)
    members = await _members(team["id"])
    principal = await page_principal()
    return await render(
        "team.html",
        nav="teams",
        team=team,
        members=members,
        tokens=await _tokens(team["id"]),
        usernames=_owner_usernames(members),
        roles=tuple(TEAM_ROLES),
        my_role=(await _roles_by_team()).get(team["id"]),
        manage=principal.allows(MEMBERS),
        me=_user(),
    )


@bp.get("/teams/<team_id>/partials/members")
async def team_members(team_id: str) -> tuple[str, int]:
    team = await _team(team_id)
    return await render(
        "partials/team_members.html",
        team=team,
        members=await _members(team["id"]),
        roles=tuple(TEAM_ROLES),
        manage=(await page_principal()).allows(MEMBERS),
        me=_user(),
    )


@bp.get("/teams/<team_id>/partials/tokens")
async def team_tokens(team_id: str) -> tuple[str, int]:
    team = await _team(team_id)
    members = await _members(team["id"])
    return await render(
        "partials/team_tokens.html",
        team=team,
        tokens=await _tokens(team["id"]),
        usernames=_owner_usernames(members),
        manage=(await page_principal()).allows(MEMBERS),
    )
