"""Two-factor login: a user's TOTP secret, their recovery codes, and pending second-step login challenges.

Not imported at start-up (idle memory): the two-factor service and the migrations' environment import it. Whether
a user has 2FA at all is ``users.two_factor_enabled`` (:class:`rivetr_core.models.accounts.User`), so a login or a
request of a user without it never reads these tables.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from rivetr_core.db.engine import new_id, utcnow


class UserTotp(SQLModel, table=True):
    """A user's TOTP secret (RFC 6238), encrypted with the server's key. Unconfirmed (``confirmed_at`` None) from
    enrolment until the first correct code; replaced by a new enrolment while unconfirmed."""

    __tablename__ = "user_totp"

    user_id: str = Field(primary_key=True, foreign_key="users.id", ondelete="CASCADE", max_length=32)
    secret: str = Field(max_length=255)  # SecretBox ciphertext of the base32 secret
    created_at: datetime = Field(default_factory=utcnow)
    confirmed_at: datetime | None = None
    #: The 30-second time step of the last accepted code: a code is refused at or before it, so one seen over
    #: someone's shoulder (or replayed from a log) cannot be used again within its window.
    last_used_step: int | None = None


class RecoveryCode(SQLModel, table=True):
    """A one-time code that replaces the TOTP code at login (a lost phone); only its sha256 is stored."""

    __tablename__ = "recovery_codes"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="users.id", ondelete="CASCADE", index=True, max_length=32)
    code_hash: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    used_at: datetime | None = None


class LoginChallenge(SQLModel, table=True):
    """A password accepted for a user with 2FA, waiting for the second factor. The client holds the raw challenge;
    only its sha256 is stored. Dies at ``expires_at``, after too many wrong codes, or when used."""

    __tablename__ = "login_challenges"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    token_hash: str = Field(index=True, unique=True, max_length=64)
    user_id: str = Field(foreign_key="users.id", ondelete="CASCADE", index=True, max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    failures: int = 0
