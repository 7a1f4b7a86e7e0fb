"""Proof of the server for first-run setup.

Until the first administrator exists, whoever reaches ``/setup`` first would own the instance — on a fresh install
exposed to the internet, that may be anyone. So setup (``POST /api/auth/setup`` and the ``/setup`` page) also asks
for the admin token, which only someone with access to the server has: it is in ``<data_dir>/admin.token`` (0600),
or in the configuration when ``[auth] admin_token`` is set.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rivetr_core.auth import TOKEN_FILE, token_matches
from rivetr_core.errors import ApiError

if TYPE_CHECKING:
    from rivetr_core.config import RivetrConfig
    from rivetr_core.context import RivetrContext

SETUP_TOKEN_FIELD = "setup_token"


def setup_token_file(config: RivetrConfig) -> Path | None:
    """The file holding the admin token, or None when the configuration sets it (``[auth] admin_token``)."""
    configured = config.auth.admin_token
    if configured is not None and configured.get_secret_value():
        return None
    return config.server.data_dir / TOKEN_FILE


def setup_token_location(ctx: RivetrContext) -> str:
    """Where the operator finds the setup token, for the setup page and error messages."""
    path = setup_token_file(ctx.config)
    if path is None:
        return "the [auth] admin_token of the server's configuration (or RIVETR_AUTH__ADMIN_TOKEN)"
    return f"the file {path} on the server"


def setup_proof_valid(ctx: RivetrContext, given: str | None) -> bool:
    """True when ``given`` is the admin token (constant-time comparison)."""
    return bool(given) and token_matches((given or "").strip(), ctx.admin_token)


def setup_token_error(ctx: RivetrContext, given: str | None) -> ApiError:
    """401 for a missing or wrong setup token, saying where the right one is."""
    problem = "a wrong setup token" if given else "no setup token"
    message = (
        f"first-run setup needs the admin token as proof of the server; got {problem}. It is in "
        f"{setup_token_location(ctx)}: send it as 'Authorization: Bearer <token>' or the setup_token field"
    )
    return ApiError(
        401,
        message,
        code="setup_token_required",
        details=[{"field": SETUP_TOKEN_FIELD, "message": message}],
        headers={"WWW-Authenticate": "Bearer"},
    )
