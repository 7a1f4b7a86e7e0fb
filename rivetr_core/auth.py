"""The admin token: from config, else generated once into ``<data_dir>/admin.token`` (0600) and printed once.

Every ``/api/*`` route requires ``Authorization: Bearer <token>``; comparison is constant-time. Later issues add
more credential kinds (API tokens, dashboard sessions) through :data:`EXTRA_VERIFIERS`.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path

from quart import Quart, request, websocket

from .errors import ApiError
from .secrets import load_or_create_private_value

TOKEN_FILE = "admin.token"

#: Extra async verifiers ``(token) -> principal name or None`` (API tokens, sessions); kept on the app.
Verifier = Callable[[str], Awaitable[str | None]]


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


PUBLIC_API_PATHS = frozenset({"/api/auth/login", "/api/auth/setup", "/api/auth/status"})


def token_required(path: str) -> bool:
    """Whether the guard below asks for a credential on ``path`` (/openapi.json declares the same)."""
    return path.startswith("/api/") and path not in PUBLIC_API_PATHS


async def resolve_principal(token: str | None, admin_token: str, verifiers: list[Verifier]) -> str | None:
    """Who ``token`` (or, for verifiers, the ambient session) is; None when nobody."""
    if token is not None and token_matches(token, admin_token):
        return "admin"
    for verify in verifiers:  # API tokens, dashboard sessions
        principal = await verify(token or "")
        if principal:
            return principal
    return None


def websocket_token() -> str | None:
    """Bearer header, else ``?token=`` (browsers cannot set headers on a WebSocket)."""
    scheme, _, token = websocket.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return websocket.args.get("token") or None


def install_auth(app: Quart, admin_token: str) -> None:
    """Guard every /api/* route and WebSocket; the principal is stored on ``request``/``websocket``
    as ``rivetr_principal``."""
    verifiers: list[Verifier] = app.extensions.setdefault("rivetr_auth_verifiers", [])

    @app.before_request
    async def _require_token() -> None:
        if not token_required(request.path):
            return
        principal = await resolve_principal(bearer_token(), admin_token, verifiers)
        if principal is None:
            raise ApiError(401, "missing or invalid bearer token", headers={"WWW-Authenticate": "Bearer"})
        request.rivetr_principal = principal  # type: ignore[attr-defined]

    @app.before_websocket
    async def _require_websocket_token() -> None:
        # Refused before the handshake completes, so no handler can forget the check.
        if not websocket.path.startswith("/api/"):
            return
        principal = await resolve_principal(websocket_token(), admin_token, verifiers)
        if principal is None:
            raise ApiError(401, "missing or invalid bearer token", headers={"WWW-Authenticate": "Bearer"})
        websocket.rivetr_principal = principal  # type: ignore[attr-defined]
