"""The team an audit entry belongs to (``audit_log.team_id``), so a team's admins read their team's log.

The team the request acted in (the principal's ``team_id``: the ``X-Rivetr-Team`` header, the session's choice,
the token's team) when it has one. A server owner or admin acting over every team has none: then the team of the
resource the URL names, when that is obvious and cheap, one indexed query on an id in the path (a project, app,
service, stack, deployment or team), looked up before the handler runs so a deleted resource is still attributed.
Anything else (a creation whose target is in the body, server-wide settings) records no team: server-wide, read
by the server's owners and admins only.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from rivetr_core.models.apps import DEFAULT_TEAM_ID

_OWNED = "SELECT COALESCE(p.team_id, :default) FROM {table} r LEFT JOIN projects p ON p.id = r.project_id WHERE r.id = :id"

#: URL parameter → the query of its team (a resource without a project is the default team's). Raw SQL: it runs
#: for every audited request of a team-less principal and must load no feature's models.
TEAM_OF_URL_PARAMETER: dict[str, sa.TextClause] = {
    "team_id": sa.text("SELECT id FROM teams WHERE id = :id OR name = :id ORDER BY id LIMIT 1"),
    "project_id": sa.text("SELECT team_id FROM projects WHERE id = :id"),
    "app_id": sa.text(_OWNED.format(table="apps")),
    "service_id": sa.text(_OWNED.format(table="services")),
    "stack_id": sa.text(_OWNED.format(table="stacks")),
    "deployment_id": sa.text(
        "SELECT COALESCE(p.team_id, :default) FROM deployments d JOIN apps a ON a.id = d.app_id"
        " LEFT JOIN projects p ON p.id = a.project_id WHERE d.id = :id"
    ),
}


async def entry_team(db: Any, principal: Any, view_args: dict[str, Any] | None) -> str | None:
    """The team to record for a request by ``principal`` on a URL with ``view_args``; None: server-wide."""
    team_id: str | None = getattr(principal, "team_id", None)
    if team_id is not None or not view_args:
        return team_id
    for parameter, query in TEAM_OF_URL_PARAMETER.items():
        if parameter in view_args:
            async with db.engine.connect() as conn:
                found = (
                    await conn.execute(query, {"id": str(view_args[parameter]), "default": DEFAULT_TEAM_ID})
                ).first()
            return str(found[0]) if found is not None and found[0] is not None else None
    return None
