"""Passkeys (WebAuthn credentials) as a second factor, and the short-lived challenges of their ceremonies.

Not imported at start-up (idle memory): the passkey service and the migrations' environment import it. A passkey
holds no secret: the private key never leaves the authenticator; the server keeps the public key to check
signatures, and the credential id to tell the browser which keys it accepts.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from rivetr_core.db.engine import new_id, utcnow


class Passkey(SQLModel, table=True):
    """One authenticator (a security key, a phone, a laptop's platform authenticator) registered by a user."""

    __tablename__ = "passkeys"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="users.id", ondelete="CASCADE", index=True, max_length=32)
    #: base64url of the authenticator's credential id: unique across the server, so an assertion names its key.
    credential_id: str = Field(unique=True, index=True, max_length=1400)
    #: base64url of the COSE public key (public by definition: it only verifies signatures).
    public_key: str = Field(max_length=2048)
    #: The authenticator's signature counter: an assertion must raise it (a cloned key would lag behind).
    sign_count: int = 0
    transports: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    name: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None


class PasskeyChallenge(SQLModel, table=True):
    """A challenge handed to the browser for one ceremony: ``register`` (a logged-in user adds a key) or ``login``
    (the second step of the login ``login_challenge_id``). Only its sha256 is stored; it is deleted when used,
    so it works once, and is refused after ``expires_at``."""

    __tablename__ = "passkey_challenges"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    challenge_hash: str = Field(index=True, unique=True, max_length=64)
    user_id: str = Field(foreign_key="users.id", ondelete="CASCADE", index=True, max_length=32)
    purpose: str = Field(max_length=16)
    login_challenge_id: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
