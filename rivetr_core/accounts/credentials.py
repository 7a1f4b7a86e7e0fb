"""Random credentials and their stored forms.

Session ids and API tokens are 256-bit random values; the database keeps only their sha256 (a fast hash is
right here: the input has full entropy, unlike a password). The CSRF token of a session is an HMAC of the raw
session id, so it needs no storage and cannot be computed without the HttpOnly cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

API_TOKEN_PREFIX = "rvt_pat_"
SESSION_PREFIX = "rvs_"
#: One-time links (rivetr_core.accounts.invitations). The prefix lets the auth guard recognise the public routes
#: that take one in their path (rivetr_core.auth.token_required) and never collides with a 32-hex-digit id.
INVITE_TOKEN_PREFIX = "rvt_inv_"
RESET_TOKEN_PREFIX = "rvt_rst_"


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def new_session_id() -> str:
    return SESSION_PREFIX + secrets.token_urlsafe(32)


def new_api_token() -> str:
    return API_TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_link_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def looks_like_api_token(value: str) -> bool:
    return value.startswith(API_TOKEN_PREFIX) and 40 <= len(value) <= 80


def csrf_for_session(raw_session_id: str) -> str:
    return hmac.new(raw_session_id.encode(), b"rivetr-csrf-v1", hashlib.sha256).hexdigest()


def same(given: str | None, expected: str | None) -> bool:
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())
