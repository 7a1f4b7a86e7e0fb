"""The admin token: from config, else generated once into ``<data_dir>/admin.token`` (0600) and printed once.

Every ``/api/*`` route requires ``Authorization: Bearer <token>``; comparison is constant-time. Other credential
kinds (API tokens, dashboard sessions) plug in as verifiers (``app.extensions["rivetr_auth_verifiers"]``). After
authentication the guard checks the matched route's declared permission (:mod:`rivetr_core.authz`) before the
handler runs.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from quart import Quart, request, websocket
from quart.wrappers import Websocket

from .accounts.credentials import INVITE_TOKEN_PREFIX, RESET_TOKEN_PREFIX
from .authz import visibility
from .authz.enforce import ROUTE_PERMISSIONS, RoutePermissions
from .authz.permissions import PUBLIC, Principal
from .errors import ApiError
from .secrets import load_or_create_private_value

TOKEN_FILE = "admin.token"

#: Extra async verifiers ``(token) -> principal or None`` (API tokens, sessions); kept on the app. A verifier
#: returns a :class:`Principal` (core's: the user's roles and acting team, a token's scopes, built by
#: :mod:`rivetr_core.authz.principals`) or a bare name, which gets full rights.
Verifier = Callable[[str], Awaitable[str | Principal | None]]


def load_admin_token(configured: str | None, data_dir: Path) -> tuple[str, bool]:
    """Return (token, generated_now). A generated token must be shown to the operator exactly once."""
    if configured:
        return configured, False
    return load_or_create_private_value(data_dir / TOKEN_FILE, "rvt_" + secrets.token_urlsafe(32))


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def token_matches(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


PUBLIC_API_PATHS = frozenset(
    {
        "/api/auth/login",
        "/api/auth/login/2fa",
        "/api/auth/login/2fa/passkey/options",
        "/api/auth/setup",
        "/api/auth/status",
    }
)


#: Public routes whose credential is the one-time link token in their path (an invitation, a password reset),
#: recognised by the token's prefix (never a resource id): rivetr_core.api.invitations.
PUBLIC_LINK_PATHS = re.compile(
    rf"^/api/(?:invitations/{INVITE_TOKEN_PREFIX}[\w-]+(?:/accept)?|auth/reset/{RESET_TOKEN_PREFIX}[\w-]+)$",
    re.ASCII,
)


def token_required(path: str) -> bool:
    """Whether the guard below asks for a credential on ``path`` (/openapi.json declares the same)."""
    return path.startswith("/api/") and path not in PUBLIC_API_PATHS and not PUBLIC_LINK_PATHS.match(path)


#: The admin token is a server-owner credential with every right.
ADMIN = Principal.full("admin")


async def resolve_principal(
    token: str | None, admin_token: str, verifiers: list[Verifier]
) -> Principal | None:
    """Who ``token`` (or, for verifiers, the ambient session) is; None when nobody. The admin token acts in
    every team, or in the one an ``X-Rivetr-Team`` header names (404 ``team`` when there is none)."""
    if token is not None and token_matches(token, admin_token):
        from .accounts.web import accounts, requested_team

        team = requested_team()
        return ADMIN if team is None else await accounts().principals.for_admin(ADMIN.name, team)
    for verify in verifiers:  # API tokens, dashboard sessions
        principal = await verify(token or "")
        if principal:
            return principal if isinstance(principal, Principal) else Principal.full(principal)
    return None


#: The subprotocol every Rivetr WebSocket speaks. A client that offers subprotocols (a browser passing its
#: credential as one) must also offer this one: the server echoes it, and a browser drops a handshake whose answer
#: names none of the offered protocols. The credential itself is never echoed.
WS_PROTOCOL = "rivetr.v1"
BEARER_PROTOCOL = "rivetr.bearer."
CSRF_PROTOCOL = "rivetr.csrf."


def websocket_protocol_value(prefix: str) -> str | None:
    """The ``<value>`` of an offered subprotocol ``<prefix><value>``, or None."""
    for offered in websocket.requested_subprotocols:
        if offered.startswith(prefix) and len(offered) > len(prefix):
            return offered[len(prefix) :]
    return None


def websocket_token() -> str | None:
    """Bearer header, else the ``rivetr.bearer.<token>`` subprotocol (browsers cannot set headers on a
    WebSocket). Never the query string: URLs end up in access logs, proxy logs and browser history."""
    scheme, _, token = websocket.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return websocket_protocol_value(BEARER_PROTOCOL)


class RivetrWebsocket(Websocket):
    """Accepts with :data:`WS_PROTOCOL` when the client offered it, whether a handler accepts explicitly or
    Quart does on the first send/receive, so no handler can forget the echo."""

    async def accept(self, headers: Any = None, subprotocol: str | None = None) -> None:
        if subprotocol is None and WS_PROTOCOL in self.requested_subprotocols:
            subprotocol = WS_PROTOCOL
        await super().accept(headers, subprotocol)


def install_auth(app: Quart, admin_token: str) -> None:
    """Guard every /api/* route and WebSocket: authenticate, then check the route's declared permission. The
    principal's name is stored on ``request``/``websocket`` as ``rivetr_principal`` (what audit records) and the
    :class:`Principal` itself as ``rivetr_authz``."""
    verifiers: list[Verifier] = app.extensions.setdefault("rivetr_auth_verifiers", [])
    permissions = app.extensions[ROUTE_PERMISSIONS] = RoutePermissions(app)
    app.websocket_class = RivetrWebsocket

    @app.before_request
    async def _require_token() -> None:
        rule = request.url_rule
        if not token_required(request.path) and (
            # A link's path serves other methods too (DELETE /api/invitations/{id}): those are not public.
            rule is None
            or not PUBLIC_LINK_PATHS.match(request.path)
            or permissions.permission(rule.endpoint) == PUBLIC
        ):
            return
        principal = await resolve_principal(bearer_token(), admin_token, verifiers)
        if principal is None:
            raise ApiError(401, "missing or invalid bearer token", headers={"WWW-Authenticate": "Bearer"})
        request.rivetr_principal = principal.name  # type: ignore[attr-defined]
        request.rivetr_authz = principal  # type: ignore[attr-defined]
        visibility.activate(principal)  # another team's rows are not found from here on
        if rule is not None:  # None: no route matched, and dispatch answers 404/405
            permissions.authorize(rule.endpoint, principal)

    @app.before_websocket
    async def _require_websocket_token() -> None:
        # Refused before the handshake completes, so no handler can forget the check.
        rule = websocket.url_rule
        if not websocket.path.startswith("/api/"):
            if rule is not None:
                await _check_plugin_websocket(rule.endpoint)
            return
        principal = await resolve_principal(websocket_token(), admin_token, verifiers)
        if principal is None:
            message = "missing or invalid bearer token"
            if "token" in websocket.args:
                message += (
                    ": ?token= is not accepted (URLs are logged); send Authorization: Bearer <token>, or offer"
                    f" the subprotocols {WS_PROTOCOL!r} and '{BEARER_PROTOCOL}<token>'"
                )
            raise ApiError(401, message, headers={"WWW-Authenticate": "Bearer"})
        websocket.rivetr_principal = principal.name  # type: ignore[attr-defined]
        websocket.rivetr_authz = principal  # type: ignore[attr-defined]
        visibility.activate(principal)
        if rule is not None:
            permissions.authorize(rule.endpoint, principal)

    async def _check_plugin_websocket(endpoint: str) -> None:
        """WebSockets outside /api/ (the dashboard's) authenticate in their handler, which also refuses
        nobody; the declaration is still required, and whoever core can identify must hold it."""
        if permissions.permission(endpoint) is None:
            permissions.authorize(endpoint, None)  # raises permission_undeclared
        principal = await resolve_principal(websocket_token(), admin_token, verifiers)
        if principal is not None:
            permissions.authorize(endpoint, principal)
