"""One-time links: invitations (a new user joins a team) and password resets (an admin hands a user a way back in).

Both are a random token shown once to whoever made the link and stored only as its sha256, with an expiry and a
``used_at`` set by the one request that consumes it. Not imported at start-up (idle memory): the invitation service
and the migrations' environment import it.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from rivetr_core.db.engine import new_id, utcnow

INVITE = "invite"
PASSWORD_RESET = "password_reset"
KINDS = (INVITE, PASSWORD_RESET)


class Invitation(SQLModel, table=True):
    __tablename__ = "invitations"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    token_hash: str = Field(index=True, unique=True, max_length=64)
    kind: str = Field(max_length=16)
    #: Recorded for the inviter's benefit only: Rivetr sends no mail, the inviter hands the link over.
    email: str | None = Field(default=None, max_length=254)
    #: An invitation: the suggested user name (the invitee may choose another). A reset: the user's name.
    username: str | None = Field(default=None, max_length=64)
    #: A reset link: whose password it sets (the link dies with the user).
    user_id: str | None = Field(
        default=None, foreign_key="users.id", ondelete="CASCADE", index=True, max_length=32
    )
    #: An invitation: the team the new user joins, with ``role`` (the invitation dies with the team).
    team_id: str | None = Field(
        default=None, foreign_key="teams.id", ondelete="CASCADE", index=True, max_length=32
    )
    role: str | None = Field(default=None, max_length=16)
    #: The principal that made the link (``user:<name>``, ``admin``, ``token:<owner>/<name>``), as audit names it.
    created_by: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None
