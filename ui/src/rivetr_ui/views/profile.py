"""``/profile``: the logged-in user's own account — password, two-factor login (enrol with a QR code, recovery
codes shown once, regenerate, disable), passkeys (add, rename, remove) and their sessions (end one, or every
other). Their API tokens are on ``/settings``.

Changes are REST calls from the browser with the session (``/api/auth/password``, ``/api/auth/2fa/*``,
``/api/auth/passkeys``, ``/api/auth/sessions``), so the rules and messages are the API's; ``profile.js`` drives
the TOTP enrolment and ``passkeys.js`` the WebAuthn ceremony.
"""

from __future__ import annotations

from typing import Any

from quart import g

from rivetr_core.accounts.service import session_json

from ..blueprint import accounts, bp, ctx, render


async def _sessions() -> list[dict[str, Any]]:
    """The user's own sessions (every user's are on the API with ``?all=true``, for server admins)."""
    session = g.ui_session
    rows = await accounts().list_sessions(session.user.id)
    return [session_json(row, name, row.id == session.session.id) for row, name in rows]


async def _two_factor() -> Any:
    from rivetr_core.accounts.two_factor import TwoFactorService

    return await TwoFactorService(ctx().db, ctx().secrets).status(g.ui_session.user)


async def _passkeys() -> list[dict[str, Any]]:
    """The user's passkeys as the API lists them (``GET /api/auth/passkeys``)."""
    from rivetr_core.accounts.passkeys import PasskeyService, passkey_json

    rows = await PasskeyService(ctx().db).list(g.ui_session.user.id)
    return [passkey_json(row) for row in rows]


@bp.get("/profile")
async def profile() -> tuple[str, int]:
    return await render(
        "profile.html",
        nav="profile",
        two_factor=await _two_factor(),
        passkeys=await _passkeys(),
        sessions=await _sessions(),
        min_password_length=accounts().min_password_length,
    )


@bp.get("/profile/partials/two-factor")
async def profile_two_factor() -> tuple[str, int]:
    return await render("partials/profile_two_factor.html", two_factor=await _two_factor())


@bp.get("/profile/partials/passkeys")
async def profile_passkeys() -> tuple[str, int]:
    return await render("partials/profile_passkeys.html", passkeys=await _passkeys())


@bp.get("/profile/partials/sessions")
async def profile_sessions() -> tuple[str, int]:
    return await render("partials/sessions.html", sessions=await _sessions())
