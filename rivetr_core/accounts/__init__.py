"""Accounts: users, dashboard sessions and API tokens (shared by the dashboard, the API and the CLI).

* :mod:`.passwords` — argon2id hashing and the password policy (``[auth] min_password_length``).
* :mod:`.credentials` — random session ids / API tokens, their sha256 storage form, CSRF tokens.
* :mod:`.service` — :class:`AccountService` (``ctx.services["accounts"]``): first-run setup, login,
  sessions (rotated at login, expiring after ``[auth] session_hours``), API tokens (shown once, stored
  hashed).
* :mod:`.web` — cookies (HttpOnly, SameSite=Lax, Secure over HTTPS), the CSRF check, and the verifiers that
  let API tokens and dashboard sessions (cookie + ``X-CSRF-Token``) authorise every ``/api/*`` route.
* :mod:`.two_factor` — TOTP enrolment, recovery codes and the second step of a login (loaded on first use; a login
  of a user with ``two_factor_enabled`` gets a challenge instead of a session: docs/two-factor.md).
* :mod:`.devices` — a session's device ("Firefox on Linux") from its user agent.

Principals (``request.rivetr_principal``): ``"admin"`` (admin token), ``"user:<username>"`` (dashboard
session), ``"token:<username or admin>/<token name>"`` (API token).
"""

from .service import AccountError, AccountService, LoginResult

__all__ = ["AccountError", "AccountService", "LoginResult"]
