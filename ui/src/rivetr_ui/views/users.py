"""``/users`` (users and invitations: server admins manage users, team owners and admins invite), and the public
pages behind one-time links: ``/invite/<token>`` (choose a user name and password, join the team, land logged in on
the dashboard) and ``/reset/<token>`` (set a new password).

Changes on ``/users`` are REST calls from the browser (``/api/users``, ``/api/invitations``), so the rules and
their messages are exactly the API's; a link made there is shown once, with a copy button. The link pages are
classic forms (they work before any script loads) under the pre-login double-submit CSRF cookie, like login.
"""

from __future__ import annotations

from typing import Any

from quart import Response, g, request, url_for

from rivetr_core.accounts.service import AccountError
from rivetr_core.authz import MEMBERS, SERVER, TEAM_ROLES
from rivetr_core.contract.errors import RivetrError

from ..blueprint import accounts, bp, ctx, render
from ..roles import page_principal
from .auth import signed_in

#: Users and links a page lists (the API and CLI page through more).
LISTED = 200


def _links() -> Any:
    from rivetr_core.accounts.invitations import InvitationService

    return InvitationService(ctx().db, accounts())


async def _users() -> list[dict[str, Any]]:
    from rivetr_core.accounts.users import UserAdmin
    from rivetr_core.pagination import PageQuery

    rows, _next = await UserAdmin(ctx().db, accounts()).page(await page_principal(), PageQuery(limit=LISTED))
    return rows


async def _invitations() -> list[dict[str, Any]]:
    from rivetr_core.accounts.user_responses import invitation_json
    from rivetr_core.pagination import PageQuery

    rows, _next = await _links().page(await page_principal(), PageQuery(limit=LISTED))
    return [invitation_json(row, name) for row, name in rows]


async def _invite_teams() -> list[Any]:
    """Teams the caller may invite into: every team for server owners/admins, else the team they act in when they
    own or administer it (the API refuses another team: rivetr_core.accounts.invitations.check_may_invite)."""
    principal = await page_principal()
    teams = await accounts().principals.available_teams(_session_user())
    if principal.server_role is not None:
        return teams
    return [t for t in teams if t.id == principal.team_id and t.role in ("owner", "admin")]


def _session_user() -> Any:
    session = getattr(g, "ui_session", None)
    return session.user if session is not None else None


@bp.get("/users")
async def users() -> tuple[str, int]:
    principal = await page_principal()
    if not principal.allows(MEMBERS) and not principal.allows(SERVER):
        return await render(
            "users.html", nav="users", status=403, allowed=False, users=[], invitations=[], teams=[], roles=()
        )
    return await render(
        "users.html",
        nav="users",
        allowed=True,
        users=await _users(),
        invitations=await _invitations(),
        teams=await _invite_teams(),
        roles=tuple(TEAM_ROLES),
        me=_session_user(),
    )


@bp.get("/users/partials/users")
async def users_list() -> tuple[str, int]:
    return await render("partials/users_table.html", users=await _users(), me=_session_user())


@bp.get("/users/partials/invitations")
async def invitations_list() -> tuple[str, int]:
    return await render("partials/invitations.html", invitations=await _invitations())


# ------------------------------------------------------------------------------------------------ link pages
async def _link_or_none(token: str, kind: str) -> tuple[Any, str | None] | None:
    try:
        found: tuple[Any, str | None] = await _links().lookup(token, kind)
    except RivetrError:
        return None
    return found


@bp.route("/invite/<token>", methods=["GET", "POST"])
async def invite(token: str) -> Response | tuple[str, int]:
    found = await _link_or_none(token, "invite")
    if found is None:
        return await render("invite.html", status=404, link=None, errors={}, username="")
    link, team_name = found
    errors: dict[str, str] = {}
    username = link.username or ""
    if request.method == "POST":
        form = await request.form
        username = form.get("username", "").strip()
        password = form.get("password", "")
        if password != form.get("password_confirm", ""):
            errors["password_confirm"] = "the two passwords differ"
        else:
            try:
                user = await _links().accept(token, username, password)
            except (AccountError, RivetrError) as exc:
                if getattr(exc, "status", 0) == 404:  # used up meanwhile (another tab, another person)
                    return await render("invite.html", status=404, link=None, errors={}, username="")
                errors[_field(exc)] = _reason(exc)
            else:
                return await signed_in(user, url_for("ui.dashboard"))
    return await render(
        "invite.html",
        status=422 if errors else 200,
        link=link,
        team_name=team_name,
        errors=errors,
        username=username,
        min_length=accounts().min_password_length,
    )


@bp.route("/reset/<token>", methods=["GET", "POST"])
async def reset(token: str) -> tuple[str, int]:
    found = await _link_or_none(token, "password_reset")
    if found is None:
        return await render("reset.html", status=404, link=None, errors={}, done=False)
    link, _team = found
    errors: dict[str, str] = {}
    request.rivetr_login_user = link.username  # type: ignore[attr-defined]  # whom audit names (no name field)
    if request.method == "POST":
        form = await request.form
        password = form.get("password", "")
        if password != form.get("password_confirm", ""):
            errors["password_confirm"] = "the two passwords differ"
        else:
            try:
                await _links().reset_password(token, password)
            except (AccountError, RivetrError) as exc:
                if getattr(exc, "status", 0) == 404:
                    return await render("reset.html", status=404, link=None, errors={}, done=False)
                errors[_field(exc)] = _reason(exc)
            else:
                return await render("reset.html", link=link, errors={}, done=True)
    return await render(
        "reset.html",
        status=422 if errors else 200,
        link=link,
        errors=errors,
        done=False,
        min_length=accounts().min_password_length,
    )


def _field(exc: Exception) -> str:
    field = getattr(exc, "field", None)
    if field is None and isinstance(getattr(exc, "details", None), list) and exc.details:  # type: ignore[attr-defined]
        field = exc.details[0].get("field")  # type: ignore[attr-defined]
    return str(field or "form")


def _reason(exc: Exception) -> str:
    reason = getattr(exc, "reason", None)
    if reason is None and isinstance(getattr(exc, "details", None), list) and exc.details:  # type: ignore[attr-defined]
        reason = exc.details[0].get("message")  # type: ignore[attr-defined]
    return str(reason or exc)
