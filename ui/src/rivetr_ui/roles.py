"""The dashboard's view of the caller's role: the session's :class:`~rivetr_core.authz.permissions.Principal`
(the same one the API builds for the session, so a page shows exactly the buttons the API would accept), the
``can("deploy")`` template helper, and the team switcher's choices.

Hiding a button is a courtesy, not the protection: the API refuses the call anyway (403).
"""

from __future__ import annotations

from typing import Any

from quart import g

from rivetr_core.accounts.web import accounts
from rivetr_core.authz import Principal
from rivetr_core.errors import ApiError

#: What a page shows someone whose session no longer yields rights (a disabled account): nothing to act on.
NOBODY = Principal("nobody", team_role=None, server_role=None, team_ids=frozenset())


async def page_principal() -> Principal:
    """The Principal of the page's session (computed once per request)."""
    cached: Principal | None = getattr(g, "ui_principal", None)
    if cached is not None:
        return cached
    session = getattr(g, "ui_session", None)
    principal = NOBODY
    if session is not None:
        try:
            principal = await accounts().principals.for_session(session.user, session.session, None)
        except ApiError:  # disabled meanwhile
            principal = NOBODY
    g.ui_principal = principal
    return principal


async def role_context() -> dict[str, Any]:
    """What every page gets: ``can(permission)``, the acting team and the teams to switch to."""
    principal = await page_principal()
    session = getattr(g, "ui_session", None)
    teams = await accounts().principals.available_teams(session.user) if session is not None else []
    acting = next((t for t in teams if t.id == principal.team_id), None)
    return {
        "can": principal.allows,
        "principal": principal,
        "team_switch": {
            "teams": teams,
            "current": acting,
            "all_teams": principal.team_ids is None,
            "offers_all": principal.server_role is not None,
        },
    }
