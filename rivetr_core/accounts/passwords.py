"""Password hashing with argon2id (argon2-cffi's RFC 9106 low-memory profile) and the password policy.

Hashing costs ~50-100 ms of CPU on purpose, so callers run it off the event loop (:func:`hash_password_async`,
:func:`verify_password_async`).
"""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from argon2 import PasswordHasher


@functools.cache
def _hasher() -> PasswordHasher:
    """Made on first use: argon2-cffi (and its cffi backend, ~0.5 MB) loads when someone logs in or sets a
    password, not in every idle control plane."""
    from argon2 import PasswordHasher

    return PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the user does not exist, so "no such user" costs as much as "wrong password".
    Made on first use: hashing at import cost every start ~0.1 s and a 64 MiB peak."""
    return _hasher().hash("rivetr-dummy-password-for-timing")


MAX_PASSWORD_LENGTH = 1024  # argon2 accepts anything; this only bounds the work a request can ask for


def password_problem(password: str, min_length: int) -> str | None:
    """Why ``password`` is not acceptable, or None."""
    if len(password) < min_length:
        return f"must be at least {min_length} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"must be at most {MAX_PASSWORD_LENGTH} characters"
    if not password.strip():
        return "must not be only whitespace"
    return None


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Constant-work check: a missing hash still runs one verification."""
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    try:
        return _hasher().verify(stored_hash or _dummy_hash(), password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher().check_needs_rehash(stored_hash)


async def hash_password_async(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)


async def verify_password_async(stored_hash: str | None, password: str) -> bool:
    return await asyncio.to_thread(verify_password, stored_hash, password)
