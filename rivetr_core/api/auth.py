"""``/api/auth``: first-run setup, login/logout (dashboard sessions), status, password change, and the caller's
live sessions with revocation (``GET /api/auth/sessions``, ``DELETE /api/auth/sessions/{id}``, ``DELETE
/api/auth/sessions`` for every other one). The second step of a two-factor login is in :mod:`.two_factor`.

``setup``, ``login`` and ``status`` are public (see ``PUBLIC_API_PATHS``), but setup needs the admin token as proof
of the server (:mod:`rivetr_core.accounts.setup`); setup and login are rate-limited
per client by the login bucket of :mod:`rivetr_core.ratelimit`. A successful setup or login sets the
``rivetr_session`` cookie (HttpOnly, SameSite=Lax, Secure over HTTPS) and returns the session's CSRF token:
send it as ``X-CSRF-Token`` with every ``/api/*`` call made with the cookie.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict, Field, RootModel
from quart import Blueprint, Response, current_app, g, jsonify, request
from quart_schema import document_response, tag, validate_querystring, validate_request

from rivetr_core.accounts.responses import AuthStatusOut, LoginOut, SessionOut, session_json, user_json
from rivetr_core.accounts.service import USERNAME_RE, AccountError, LoginResult, second_factor_challenge
from rivetr_core.accounts.setup import setup_proof_valid, setup_token_error
from rivetr_core.accounts.web import (
    SESSION_COOKIE,
    accounts,
    clear_session_cookie,
    current_session,
    identify_caller,
    set_session_cookie,
)
from rivetr_core.apimodel import ApiModel
from rivetr_core.auth import bearer_token
from rivetr_core.db.engine import isoformat
from rivetr_core.errors import not_found
from rivetr_core.openapi import responds
from rivetr_core.pagination import PageQuery, envelope, page_model
from rivetr_core.ratelimit import current_client

if TYPE_CHECKING:
    from rivetr_core.authz.permissions import Principal

bp = Blueprint("auth_api", __name__, url_prefix="/api/auth")
SessionPage = page_model(SessionOut, "SessionPage")


class Credentials(ApiModel):
    username: str = Field(min_length=1, max_length=64, description="Login name.")
    password: str = Field(
        min_length=1,
        max_length=1024,
        description="Password (setup: at least [auth] min_password_length characters).",
    )


class SetupIn(Credentials):
    username: str = Field(
        min_length=1,
        max_length=64,
        description="Login name: letters, digits and _ . @ - (starting with a letter or digit).",
        json_schema_extra={"pattern": USERNAME_RE.pattern},
    )
    password: str = Field(
        min_length=1,
        max_length=1024,
        description="At least [auth] min_password_length characters (10 unless configured).",
        json_schema_extra={"minLength": 10},
    )
    setup_token: str | None = Field(
        None,
        max_length=1024,
        description="The admin token (in <data_dir>/admin.token on the server), as proof of the server; "
        "alternatively sent as 'Authorization: Bearer <admin token>'.",
    )


class PasswordChange(ApiModel):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class TwoFactorChallengeOut(ApiModel):
    two_factor_required: bool = Field(description="Always true: send a code to POST /api/auth/login/2fa.")
    challenge: str = Field(description="Opaque; valid for 5 minutes and 5 wrong codes.")
    expires_at: str
    methods: list[str] = Field(
        description="The second factors this user has: totp (a code), passkey, recovery_code."
    )


class LoginAnswerOut(RootModel[LoginOut | TwoFactorChallengeOut]):
    """A session (the usual answer), or for a user with two-factor login the challenge of the second step."""

    model_config = ConfigDict(defer_build=True)


def session_response(result: LoginResult, status: int) -> Response:
    """A login's answer (also the 2FA step's): the session cookie and the CSRF token."""
    body = LoginOut.model_validate(
        {
            "user": user_json(result.user),
            "csrf_token": result.csrf_token,
            "expires_at": isoformat(result.session.expires_at),
        }
    )
    response = jsonify(body.model_dump(mode="json"))
    response.status_code = status
    set_session_cookie(current_app, response, result.session_id)  # type: ignore[arg-type]
    return response


@bp.post("/setup")
@responds(401)
@tag(["auth"])
@validate_request(SetupIn)
@document_response(LoginOut, 201)
async def setup(data: SetupIn) -> Response:
    """Create the first administrator and log them in. Needs the admin token (``<data_dir>/admin.token``) as
    proof of the server, as a bearer token or the ``setup_token`` field: 401 without it. 409 once any user
    exists."""
    ctx = current_app.extensions["rivetr_ctx"]
    given = bearer_token() or data.setup_token
    if not setup_proof_valid(ctx, given):
        raise setup_token_error(ctx, given)
    result = await accounts().set_up(
        data.username,
        data.password,
        ip=current_client(current_app),  # type: ignore[arg-type]
        user_agent=request.headers.get("User-Agent"),
    )
    return session_response(result, 201)


@bp.post("/login")
@responds(401)
@tag(["auth"])
@validate_request(Credentials)
@document_response(LoginAnswerOut)
async def login(data: Credentials) -> Response | dict[str, Any]:
    """Open a dashboard session. A previous session cookie is revoked (the id rotates). 401 when wrong.

    A user with two-factor login gets no session yet: the answer is ``{"two_factor_required": true,
    "challenge", "expires_at"}`` (no cookie); send the challenge and a code to ``POST /api/auth/login/2fa``."""
    try:
        result = await accounts().login(
            data.username,
            data.password,
            previous_session_id=request.cookies.get(SESSION_COOKIE),
            ip=current_client(current_app),
            user_agent=request.headers.get("User-Agent"),  # type: ignore[arg-type]
        )
    except AccountError as refused:
        challenge = second_factor_challenge(refused)
        if challenge is None:
            raise
        request.rivetr_login_action = "auth.login.challenge"  # type: ignore[attr-defined]  # audit: no session yet
        return TwoFactorChallengeOut(
            two_factor_required=True,
            challenge=challenge.token,
            expires_at=isoformat(challenge.expires_at) or "",
            methods=challenge.methods,
        ).model_dump(mode="json")
    return session_response(result, 200)


@bp.get("/status")
@tag(["auth"])
@document_response(AuthStatusOut)
async def status() -> dict[str, Any]:
    """Whether setup is still required and who the caller is (session cookie or bearer token), if anyone."""
    service = accounts()
    via, user = await identify_caller(current_app)  # type: ignore[arg-type]
    return AuthStatusOut.model_validate(
        {
            "setup_required": await service.setup_required(),
            "authenticated": via is not None,
            "via": via,
            "user": user_json(user) if user is not None else None,
            "min_password_length": service.min_password_length,
        }
    ).model_dump(mode="json")


@bp.post("/logout")
@tag(["auth"])
async def logout() -> Response:
    """End the caller's dashboard session (a no-op for bearer tokens) and clear the cookie."""
    await accounts().logout(request.cookies.get(SESSION_COOKIE))
    response = Response(status=204)
    clear_session_cookie(current_app, response)  # type: ignore[arg-type]
    return response


@bp.post("/password")
@responds(403)
@tag(["auth"])
@validate_request(PasswordChange)
async def change_password(data: PasswordChange) -> Response:
    """Change the session user's password; all their sessions end (log in again)."""
    user = getattr(g, "rivetr_user", None)
    if user is None:
        raise AccountError(403, "only a logged-in user can change their password (tokens have none)")
    await accounts().change_password(user, data.current_password, data.new_password)
    response = Response(status=204)
    clear_session_cookie(current_app, response)  # type: ignore[arg-type]
    return response


class SessionQuery(PageQuery):
    model_config = ConfigDict(extra="forbid")

    all: bool = Field(False, description="Every user's sessions (server owners and admins only).")


class SessionsEndedOut(ApiModel):
    ended: int = Field(description="How many sessions ended.")


def _server_admin() -> bool:
    """Whether the caller holds a server role (owner or admin; the admin token is an owner)."""
    principal: Principal | None = getattr(request, "rivetr_authz", None)
    return principal is not None and principal.server_role is not None


@bp.get("/sessions")
@tag(["auth"])
@validate_querystring(SessionQuery)
@document_response(SessionPage)
async def list_sessions(query_args: SessionQuery) -> dict[str, Any]:
    """The caller's live dashboard sessions (``?all=true``: every user's, for server owners and admins), newest
    first, a page at a time (``{"items", "next"}``; pass ``next`` back as ``?cursor=``). ``device`` names the
    browser and system; ``current`` marks the session making the request. The admin token has no sessions of its
    own: it sees them with ``?all=true``."""
    user = getattr(g, "rivetr_user", None)
    everyone = query_args.all and _server_admin()
    if everyone:
        owner = None
    elif user is not None:
        owner = user.id
    else:
        return envelope([], None)
    mine = await current_session(current_app)  # type: ignore[arg-type]
    current_id = mine.session.id if mine else None
    page, next_cursor = await accounts().session_page(query_args, owner)
    return envelope([session_json(row, name, row.id == current_id) for row, name in page], next_cursor)


@bp.delete("/sessions/<session_id>")
@tag(["auth"])
async def revoke_session(session_id: str) -> Response:
    """End one of the caller's sessions at once (its cookie stops working); server owners and admins may end
    anyone's. 404 when there is no such live session (or it is someone else's)."""
    user = getattr(g, "rivetr_user", None)
    owner = None if _server_admin() else (user.id if user else "")
    if not await accounts().revoke_session(session_id, owner):
        raise not_found("session", session_id)
    return Response(status=204)


@bp.delete("/sessions")
@responds(403)
@tag(["auth"])
@document_response(SessionsEndedOut)
async def revoke_other_sessions() -> dict[str, Any]:
    """Log out everywhere else: end every session of the caller except the one making this request (with an API
    token, which is no session, every one of them)."""
    user = getattr(g, "rivetr_user", None)
    if user is None:
        raise AccountError(403, "only a user has sessions (the admin token has none)")
    mine = await current_session(current_app)  # type: ignore[arg-type]
    ended = await accounts().revoke_other_sessions(user.id, mine.session.id if mine else None)
    return SessionsEndedOut(ended=ended).model_dump(mode="json")
