"""The ``ui`` blueprint: login guard, CSRF check, security headers and the shared render helper.

Every page needs a dashboard session except ``/login``, ``/setup`` and the assets. Unsafe methods need the
session's CSRF token (form field ``csrf_token`` or header ``X-CSRF-Token``: htmx sends the header from the
``<body hx-headers>``); the login and setup forms, shown before any session exists, use a double-submit
cookie instead. Responses carry a CSP without inline scripts, ``nosniff``, ``frame-ancestors 'none'`` and a
same-origin referrer policy.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from quart import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    url_for,
    websocket,
)

from rivetr_core.accounts import credentials
from rivetr_core.accounts.service import SessionInfo
from rivetr_core.accounts.web import (
    CSRF_FORM_FIELD,
    CSRF_HEADER,
    PRELOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    accounts,
    current_session,
    request_is_https,
    same_origin,
    websocket_csrf,
)
from rivetr_core.authz import visibility
from rivetr_core.context import RivetrContext, rivetr
from rivetr_core.errors import ApiError

from . import __version__

bp = Blueprint(
    "ui", __name__, template_folder="templates", static_folder="static", static_url_path="/static/ui"
)

#: ``ui.invite`` and ``ui.reset``: the pages behind one-time links (the token in the URL is their credential).
PUBLIC_ENDPOINTS = frozenset({"ui.login", "ui.setup", "ui.invite", "ui.reset", "ui.static", "ui.vendor"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# 'unsafe-inline' for styles only (xterm.js and htmx swaps set inline styles); scripts stay strict.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def ctx() -> RivetrContext:
    return rivetr()


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def safe_next(target: str | None) -> str:
    """Only same-site relative paths are followed after login (no open redirect)."""
    if not target:
        return "/"
    parts = urlsplit(target)
    # Browsers read "/\\host" as "//host": backslashes and control characters are refused as well.
    unsafe = "\\" in target or any(ord(ch) < 32 for ch in target)
    if unsafe or parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def prelogin_csrf() -> str:
    """The double-submit token for the login/setup forms (cookie set by :func:`_security_headers`)."""
    token = request.cookies.get(PRELOGIN_CSRF_COOKIE)
    if not token or len(token) < 32:
        token = getattr(g, "new_prelogin_csrf", None) or secrets.token_urlsafe(32)
        g.new_prelogin_csrf = token
    return token


def csrf_token() -> str:
    session = getattr(g, "ui_session", None)
    return session.csrf_token if session is not None else prelogin_csrf()


async def _submitted_csrf() -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return (await request.form).get(CSRF_FORM_FIELD)
    return None


@bp.before_request
async def _guard() -> Response | None:
    if request.endpoint in ("ui.static", "ui.vendor"):
        return None
    g.ui_session = await current_session(current_app)  # type: ignore[arg-type]
    unsafe = request.method not in SAFE_METHODS
    if request.endpoint in PUBLIC_ENDPOINTS:
        if unsafe and not credentials.same(
            await _submitted_csrf(), request.cookies.get(PRELOGIN_CSRF_COOKIE)
        ):
            abort(403, "CSRF token missing or invalid: reload the page and try again")
        return None
    if g.ui_session is None:
        if await accounts().setup_required():
            target = url_for("ui.setup")
        else:
            here = request.full_path.rstrip("?") if request.method == "GET" else "/"
            if is_htmx():  # a partial is no place to come back to: return to the page that asked for it
                current = urlsplit(request.headers.get("HX-Current-URL", ""))
                here = current.path + (f"?{current.query}" if current.query else "") if current.path else "/"
            target = url_for("ui.login", next=here) if here != "/" else url_for("ui.login")
        if is_htmx():
            return Response(status=204, headers={"HX-Redirect": target})
        return redirect(target)  # type: ignore[return-value]
    if unsafe and not credentials.same(await _submitted_csrf(), g.ui_session.csrf_token):
        abort(403, "CSRF token missing or invalid: reload the page and try again")
    from .roles import page_principal

    visibility.activate(await page_principal())  # the acting team's resources only, as in the API
    return None


@bp.after_request
async def _security_headers(response: Response) -> Response:
    for key, value in SECURITY_HEADERS.items():
        response.headers.setdefault(key, value)
    if request.endpoint not in ("ui.static", "ui.vendor"):
        response.headers.setdefault("Cache-Control", "no-store")
    new_token = getattr(g, "new_prelogin_csrf", None)
    if new_token:
        response.set_cookie(
            PRELOGIN_CSRF_COOKIE,
            new_token,
            path="/",
            httponly=True,
            samesite="Lax",
            secure=request_is_https(current_app),
        )  # type: ignore[arg-type]
    return response


async def render(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    """Render a page with what every template needs: the user, the CSRF token, the active nav item (and, from
    :func:`_role_helpers`, ``can``)."""
    session = getattr(g, "ui_session", None)
    context.setdefault("nav", "")
    body = await render_template(
        template,
        user=session.user if session else None,
        csrf_token=csrf_token(),
        ui_version=__version__,
        **context,
    )
    return body, status


@bp.context_processor
async def _role_helpers() -> dict[str, Any]:
    """``can("deploy")``, ``principal`` and ``team_switch`` in every dashboard template (:mod:`.roles`), partials
    included; nothing before login."""
    if getattr(g, "ui_session", None) is None:
        return {"can": lambda _permission: False}
    from .roles import role_context

    return await role_context()


async def websocket_session() -> SessionInfo | None:
    """The session of a dashboard WebSocket: cookie, CSRF token (subprotocol ``rivetr.csrf.<token>``) and our
    own Origin, all required.

    Blueprint ``before_request`` hooks do not run for WebSockets, so every UI WebSocket handler calls this.
    """
    raw = websocket.cookies.get(SESSION_COOKIE)
    if not raw or not credentials.same(websocket_csrf(), credentials.csrf_for_session(raw)):
        return None
    if not same_origin(websocket):
        return None
    info = await accounts().session_for(raw)
    if info is not None:
        try:  # the acting team's resources only, as in the API (rivetr_core.authz.visibility)
            visibility.activate(await accounts().principals.for_session(info.user, info.session, None))
        except ApiError:  # disabled meanwhile
            return None
    return info
