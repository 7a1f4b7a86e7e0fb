"""HTTP side of accounts: cookies, the CSRF check, and the credential verifiers behind ``/api/*``.

``start(app, ctx)`` (listed in ``CORE_SERVICES``) creates the :class:`AccountService` and appends two
verifiers to ``app.extensions["rivetr_auth_verifiers"]`` (see :mod:`rivetr_core.auth`):

* API tokens: ``Authorization: Bearer rvt_pat_...``.
* Dashboard sessions: the ``rivetr_session`` cookie **plus** an ``X-CSRF-Token`` header equal to the session's
  CSRF token. Browsers attach cookies to cross-site requests; the header is what proves the request came from
  our own page, so a cookie alone never authorises an API call. WebSockets (which cannot carry headers from a
  browser) offer the token as the subprotocol ``rivetr.csrf.<token>`` (next to ``rivetr.v1``) and must come from
  our own Origin.

Both set ``g.rivetr_user`` (the :class:`User`, or None for admin-owned tokens) and return the caller's
:class:`~rivetr_core.authz.permissions.Principal` (roles, acting team, token scopes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from quart import Quart, g, has_websocket_context, request, websocket

from rivetr_core.context import rivetr
from rivetr_core.ratelimit import _trusted

from . import credentials
from .service import AccountService, SessionInfo

if TYPE_CHECKING:
    from rivetr_core.authz.permissions import Principal
    from rivetr_core.context import RivetrContext
    from rivetr_core.models.accounts import User

SESSION_COOKIE = "rivetr_session"
#: Double-submit CSRF cookie for forms shown before there is a session (login, setup).
PRELOGIN_CSRF_COOKIE = "rivetr_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FORM_FIELD = "csrf_token"


def accounts() -> AccountService:
    """The AccountService of the app serving the current request."""
    service: AccountService = rivetr().services["accounts"]
    return service


def request_is_https(app: Quart, req: Any = None) -> bool:
    """True when the client reached us over HTTPS: directly, or via a trusted proxy's X-Forwarded-Proto."""
    req = req if req is not None else request
    if req.scheme in ("https", "wss"):
        return True
    forwarded = req.headers.get("X-Forwarded-Proto", "")
    if not forwarded:
        return False
    trusted = app.extensions.get("rivetr_trusted_proxies") or []
    return _trusted(req.remote_addr or "", trusted) and forwarded.split(",")[0].strip().lower() == "https"


def set_session_cookie(app: Quart, response: Any, raw_session_id: str) -> None:
    hours = app.config["RIVETR"].auth.session_hours
    response.set_cookie(
        SESSION_COOKIE,
        raw_session_id,
        max_age=hours * 3600,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=request_is_https(app),
    )


def clear_session_cookie(app: Quart, response: Any) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="Lax", secure=request_is_https(app)
    )


def request_user() -> User | None:
    """The user behind the request's session or token (``g.rivetr_user``, set by the verifiers below); None for
    the admin token and the tokens it made."""
    return getattr(g, "rivetr_user", None)


def own_user(refusal: str) -> User:
    """:func:`request_user`, or a 403 saying ``refusal`` (what only a user has) for the admin token."""
    user = request_user()
    if user is None:
        from .service import AccountError

        raise AccountError(403, refusal)
    return user


async def current_session(app: Quart, req: Any = None) -> SessionInfo | None:
    """The dashboard session of the current request or websocket (cookie only; CSRF is checked by callers)."""
    req = req if req is not None else request
    cached = getattr(g, "rivetr_session", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    info = await accounts().session_for(req.cookies.get(SESSION_COOKIE))
    if info is not None:
        g.rivetr_session = info
    return info


async def identify_caller(app: Quart) -> tuple[str | None, User | None]:
    """Which credential the current request carries and whose it is: ``("session", user)``,
    ``("admin_token", None)``, ``("api_token", owner or None)``, or ``(None, None)`` when none is valid. The
    session cookie counts here without its CSRF token: this only says who is there, it authorises nothing."""
    from rivetr_core.auth import bearer_token, token_matches

    session = await current_session(app)
    if session is not None:
        return "session", session.user
    token = bearer_token()
    if not token:
        return None, None
    if token_matches(token, rivetr().admin_token):
        return "admin_token", None
    found = await accounts().verify_token(token)
    return ("api_token", found[1]) if found is not None else (None, None)


async def browser_principal(app: Quart) -> str | None:
    """Who a top-level browser navigation (which carries no header of ours) comes from: the admin token or an
    API token as a bearer, else a dashboard session whose CSRF token is in the query (``?csrf_token=``);
    None when nobody. A session cookie without that token is refused (403 ``csrf_failed``): a link on any
    other site carries the cookie too (SameSite=Lax sends it on a top-level GET), the dashboard adds the
    session's CSRF token to its own links and a forged link cannot."""
    from rivetr_core.auth import bearer_token, token_matches
    from rivetr_core.errors import ApiError

    ctx = rivetr()
    token = bearer_token()
    if token is not None and token_matches(token, ctx.admin_token):
        return "admin"
    for verify in app.extensions.get("rivetr_auth_verifiers", []):
        principal = await verify(token or "")
        if principal:
            return str(getattr(principal, "name", principal))
    if "accounts" not in ctx.services:
        return None
    session = await current_session(app)
    if session is None:
        return None
    if not credentials.same(request.args.get(CSRF_FORM_FIELD), session.csrf_token):
        raise ApiError(
            403,
            "csrf_token missing or invalid: start connecting from the dashboard (Settings → Git)",
            code="csrf_failed",
        )
    return "session"


def websocket_csrf() -> str | None:
    """The CSRF token a dashboard WebSocket offers as the subprotocol ``rivetr.csrf.<token>``."""
    from rivetr_core.auth import CSRF_PROTOCOL, websocket_protocol_value

    return websocket_protocol_value(CSRF_PROTOCOL)


def same_origin(req: Any) -> bool:
    """True when the Origin header names the host the request was sent to (absent Origin: not a browser)."""
    origin = req.headers.get("Origin")
    if origin is None:
        return True
    host = req.headers.get("Host", "")
    return origin.split("://", 1)[-1].rstrip("/").lower() == host.lower()


def requested_team() -> str | None:
    """The team the request (or WebSocket) asks to act in: the ``X-Rivetr-Team`` header, id or name."""
    from rivetr_core.authz.principals import TEAM_HEADER

    headers = websocket.headers if has_websocket_context() else request.headers
    return (headers.get(TEAM_HEADER) or "").strip() or None


def install_verifiers(app: Quart) -> None:
    """API tokens and sessions become Principals with their user's roles (:mod:`rivetr_core.authz.principals`);
    a disabled user's credential answers 401 ``account_disabled``."""
    verifiers: list[Any] = app.extensions.setdefault("rivetr_auth_verifiers", [])

    async def verify_api_token(token: str) -> Principal | None:
        if not credentials.looks_like_api_token(token):
            return None
        found = await accounts().verify_token(token)
        if found is None:
            return None
        g.rivetr_user = found[1]
        return await accounts().principals.for_token(*found, requested_team())

    async def verify_session(_token: str) -> Principal | None:
        if has_websocket_context():
            info = await _websocket_session()
        else:
            info = await _request_session()
        if info is None:
            return None
        g.rivetr_user = info.user
        return await accounts().principals.for_session(info.user, info.session, requested_team())

    async def _request_session() -> SessionInfo | None:
        raw = request.cookies.get(SESSION_COOKIE)
        header = request.headers.get(CSRF_HEADER)
        if not raw or not header:
            return None
        if not credentials.same(header, credentials.csrf_for_session(raw)):
            return None
        return await current_session(app)

    async def _websocket_session() -> SessionInfo | None:
        # Browsers cannot set headers on a WebSocket and do send cookies cross-site, so a WebSocket needs the
        # CSRF token (in a subprotocol: never the URL, which is logged) and an Origin of this very host
        # (cross-site WebSocket hijacking).
        raw = websocket.cookies.get(SESSION_COOKIE)
        if not raw or not credentials.same(websocket_csrf(), credentials.csrf_for_session(raw)):
            return None
        if not same_origin(websocket):
            return None
        return await current_session(app, websocket)

    verifiers.extend([verify_api_token, verify_session])


async def start(app: Quart, ctx: RivetrContext) -> None:
    ctx.services["accounts"] = AccountService(ctx.db, ctx.config)
    install_verifiers(app)
