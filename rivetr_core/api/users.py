"""``/api/users``: user administration, and ``/api/users/me`` (one's own profile).

Looking users up (list, one by id or user name) needs the ``members`` permission (team admins find the users they
add); changing a server role, disabling, deleting, making a password-reset link and ending a user's sessions need
``server``. Only a server owner may do any of that to a server owner (403 ``owner_protected``); the server keeps an
enabled owner (409 ``last_owner``); nobody disables or deletes their own account (409 ``own_account``). Disabled
users cannot log in (401 ``account_disabled``); their sessions end and their tokens stop.

Each route's permission is declared in rivetr_core/authz/routes.py; the service
(:mod:`rivetr_core.accounts.users`) loads with the first request that needs it.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field
from quart import Blueprint, Response
from quart_schema import document_response, tag, validate_querystring, validate_request

from rivetr_core.accounts.user_responses import SERVER_ROLE_DOC, NewInvitationOut, UserAdminOut, new_link_json
from rivetr_core.accounts.web import accounts, own_user, request_user
from rivetr_core.context import rivetr
from rivetr_core.contract.errors import Conflict
from rivetr_core.openapi import responds
from rivetr_core.pagination import PageQuery, envelope, page_model

from .appschema import _Strict
from .invitations import USERNAME_FIELD, link_url, principal
from .invitations import service as links

if TYPE_CHECKING:
    from rivetr_core.accounts.users import UserAdmin

bp = Blueprint("users_api", __name__, url_prefix="/api/users")
UserPage = page_model(UserAdminOut, "UserPage")


class UserUpdate(_Strict):
    role: Literal["owner", "admin", "member"] | None = Field(
        None,
        description="owner (by a server owner only), admin, or member (no server role). " + SERVER_ROLE_DOC,
    )
    disabled: bool | None = Field(None, description="Disable (their sessions end, tokens stop) or enable.")


class ProfileUpdate(_Strict):
    username: str = Field(
        min_length=1, max_length=64, json_schema_extra=USERNAME_FIELD, description="New name."
    )


class SessionsEnded(_Strict):
    ended: int = Field(description="How many sessions ended.")


def admin() -> UserAdmin:
    from rivetr_core.accounts.users import UserAdmin

    return UserAdmin(rivetr().db, accounts())


caller = request_user


_me = partial(own_user, "only a user has a profile (the admin token is no user)")


@bp.get("")
@tag(["users"])
@validate_querystring(PageQuery)
@document_response(UserPage)
async def list_users(query_args: PageQuery) -> dict[str, Any]:
    """Users in creation order, a page at a time (``{"items", "next"}``), each with their server role, whether
    disabled, and their teams and roles (the teams the caller sees)."""
    rows, next_cursor = await admin().page(principal(), query_args)
    return envelope(rows, next_cursor)


@bp.get("/me")
@responds(403)
@tag(["users"])
@document_response(UserAdminOut)
async def get_me() -> dict[str, Any]:
    """The caller's own user (a session or a user's token; 403 for the admin token)."""
    return await admin().me(_me())


@bp.put("/me")
@responds(403)
@tag(["users"])
@validate_request(ProfileUpdate)
@document_response(UserAdminOut)
async def update_me(data: ProfileUpdate) -> dict[str, Any]:
    """Change one's own user name; 409 naming ``username`` when it is taken. Sessions and tokens stay valid."""
    return await admin().rename(_me(), data.username)


@bp.delete("/me")
@responds(403)
@tag(["users"])
async def delete_me() -> Response:
    """Always 409 ``own_account``: nobody deletes their own account (another server admin may)."""
    _me()
    raise Conflict("you cannot delete your own account", code="own_account")


@bp.get("/<user>")
@tag(["users"])
@document_response(UserAdminOut)
async def get_user(user: str) -> dict[str, Any]:
    """One user by id or user name; 404 when there is none."""
    return await admin().get(principal(), user)


@bp.put("/<user>")
@responds(403)
@tag(["users"])
@validate_request(UserUpdate)
@document_response(UserAdminOut)
async def update_user(user: str, data: UserUpdate) -> dict[str, Any]:
    """Change a user's server role and/or disable or enable them; omitted fields keep their value. 403
    ``owner_protected``, 409 ``last_owner`` / ``own_account`` (see the module rules)."""
    return await admin().update(principal(), caller(), user, role=data.role, disabled=data.disabled)


@bp.delete("/<user>")
@responds(403)
@tag(["users"])
async def delete_user(user: str) -> Response:
    """Delete a user: their sessions, API tokens, team memberships and reset links go with them. 403
    ``owner_protected``, 409 ``last_owner`` / ``own_account``."""
    await admin().delete(principal(), caller(), user)
    return Response(status=204)


@bp.post("/<user>/password-reset")
@responds(403)
@tag(["users"])
@document_response(NewInvitationOut, 201)
async def create_password_reset(user: str) -> tuple[dict[str, Any], int]:
    """A one-time password-reset link for the user (valid 24 hours; ``token`` and ``url`` shown this once); it
    replaces the user's earlier pending reset links. Hand it over: whoever opens ``url`` sets the password."""
    row, raw = await links().create_reset(principal(), user)
    return new_link_json(row, None, raw, link_url("reset", raw)), 201


@bp.post("/<user>/sessions/revoke")
@responds(403)
@tag(["users"])
@document_response(SessionsEnded)
async def revoke_user_sessions(user: str) -> dict[str, Any]:
    """End every dashboard session of the user at once (their API tokens stay: revoke those separately)."""
    return {"ended": await admin().revoke_sessions(principal(), user)}
