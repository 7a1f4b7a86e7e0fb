"""One-time links: invitations into a team and password-reset links (``InvitationService``).

* ``create_invitation(principal, team_id, role, email=, username=, expires_in_hours=)`` → ``(row, raw token,
  team name)``: the raw token exists only in that return value; the table keeps its sha256.
* ``create_reset(principal, user_ref)`` → the same for a password reset (a server owner's only by another owner); a
  new reset link replaces the user's pending ones.
* ``page(principal, page)`` (pending links the caller may see), ``revoke(principal, id)``.
* ``lookup(raw, kind)`` → the pending link (404 when unknown, used or expired, alike: a link reveals nothing about
  why it stopped working); ``accept(raw, username, password)`` → the new user; ``reset_password(raw, password)``.

Consuming a link is one conditional UPDATE (``used_at IS NULL AND expires_at > now``) in the transaction that
creates the user or sets the password: of two concurrent uses exactly one wins, and a refused user name leaves the
link unused. Who may make links is the route's permission (members, server) plus :func:`check_may_invite`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from rivetr_core.contract.errors import Conflict, NotFound, ValidationFailed
from rivetr_core.db.engine import utcnow
from rivetr_core.models.accounts import User, UserSession
from rivetr_core.models.invitations import INVITE, PASSWORD_RESET, Invitation
from rivetr_core.models.teams import Team, TeamMember

from . import credentials, passwords
from .service import AccountError

if TYPE_CHECKING:
    from rivetr_core.authz.permissions import Principal
    from rivetr_core.db import Database
    from rivetr_core.pagination import PageQuery

    from .service import AccountService

INVITE_HOURS = 7 * 24
RESET_HOURS = 24
MAX_HOURS = 30 * 24
#: Roles that hold the server's rights (authz.permissions.SERVER_ROLES): they may act on every team.
SERVER_WIDE = ("owner", "admin")
PREFIXES = {INVITE: credentials.INVITE_TOKEN_PREFIX, PASSWORD_RESET: credentials.RESET_TOKEN_PREFIX}


def visible_teams(principal: Principal) -> frozenset[str] | None:
    """The teams whose links the principal sees; None: every team (server owners/admins, the admin token)."""
    if principal.server_role in SERVER_WIDE:
        return None
    return getattr(principal, "team_ids", None)


def check_may_invite(principal: Principal, team_id: str, role: str) -> None:
    """Beyond the route's ``members`` permission: another team's id is a 404 (invisible), a user acting in one team
    cannot invite into another with that team's role, and only a team owner (or a server owner/admin) may invite
    someone as ``owner`` (an admin manages members except owners)."""
    if principal.server_role in SERVER_WIDE:
        return
    visible = visible_teams(principal)
    if visible is not None and team_id not in visible:
        raise NotFound.on("team_id", f"no team with id {team_id!r}")
    acting = getattr(principal, "team_id", None)
    if acting is not None and acting != team_id:
        raise AccountError(
            403,
            "you act in another team: switch to this one (X-Rivetr-Team header, or the dashboard's team switcher) "
            "to invite into it",
            field="team_id",
        )
    if role == "owner" and principal.team_role != "owner":
        raise AccountError(
            403, "only an owner of the team may invite an owner", field="role", code="forbidden"
        )


def _hours(value: int | None, default: int) -> timedelta:
    if value is None:
        return timedelta(hours=default)
    if not 1 <= value <= MAX_HOURS:
        raise ValidationFailed.on("expires_in_hours", f"must be between 1 and {MAX_HOURS} hours")
    return timedelta(hours=value)


def _gone() -> NotFound:
    return NotFound(
        "this link is unknown, already used or expired: ask for a new one", code="not_found", details=None
    )


class InvitationService:
    def __init__(self, db: Database, accounts: AccountService) -> None:
        self.db = db
        self.accounts = accounts

    # ------------------------------------------------------------------------------------------- making links
    async def create_invitation(
        self,
        principal: Principal,
        *,
        team_id: str,
        role: str,
        email: str | None = None,
        username: str | None = None,
        expires_in_hours: int | None = None,
    ) -> tuple[Invitation, str, str]:
        from rivetr_core.services.teams import check_role

        check_role(role)
        lifetime = _hours(expires_in_hours, INVITE_HOURS)
        check_may_invite(principal, team_id, role)
        if username is not None:
            username = self.accounts.check_username(username)
        async with self.db.session() as s:
            team = await s.get(Team, team_id)
            if team is None:
                raise NotFound.on("team_id", f"no team with id {team_id!r}")
            if username is not None and await _user_named(s, username) is not None:
                raise Conflict.on("username", "already taken", summary=f"user {username!r} already exists")
            row, raw = _link(INVITE, principal, lifetime, email=email, username=username)
            row.team_id, row.role = team.id, role
            s.add(row)
            await s.commit()
            return row, raw, team.name

    async def create_reset(
        self, principal: Principal, user_ref: str, *, expires_in_hours: int | None = None
    ) -> tuple[Invitation, str]:
        """A password-reset link for a user (id or name); the user's earlier pending reset links stop working."""
        lifetime = _hours(expires_in_hours, RESET_HOURS)
        async with self.db.session() as s:
            user = await find_user(s, user_ref)
            if user.is_server_owner and principal.server_role != "owner":
                # Else a server admin could take over an owner's account by resetting its password.
                raise owner_protected()
            await s.exec(
                delete(Invitation).where(
                    col(Invitation.user_id) == user.id,
                    col(Invitation.kind) == PASSWORD_RESET,
                    col(Invitation.used_at).is_(None),
                )
            )
            row, raw = _link(PASSWORD_RESET, principal, lifetime, username=user.username)
            row.user_id = user.id
            s.add(row)
            await s.commit()
            return row, raw

    # ------------------------------------------------------------------------------------------- managing links
    async def page(
        self, principal: Principal, page: PageQuery
    ) -> tuple[list[tuple[Invitation, str | None]], str | None]:
        """Pending links (unused, unexpired) in creation order, with their team names: invitations of the teams
        the caller sees, and reset links for those holding the server permission."""
        from rivetr_core.authz.permissions import SERVER
        from rivetr_core.pagination import keyset_page

        query = select(Invitation).where(
            col(Invitation.used_at).is_(None), col(Invitation.expires_at) > utcnow()
        )
        visible = visible_teams(principal)
        if visible is not None:
            query = query.where(col(Invitation.team_id).in_(visible))
        if not principal.allows(SERVER):
            query = query.where(col(Invitation.kind) == INVITE)
        async with self.db.session() as s:
            rows, next_cursor = await keyset_page(s, query, Invitation, page)
            names = await _team_names(s, [r.team_id for r in rows if r.team_id])
        return [(r, names.get(r.team_id or "")) for r in rows], next_cursor

    async def revoke(self, principal: Principal, invitation_id: str) -> None:
        from rivetr_core.authz.permissions import SERVER

        async with self.db.session() as s:
            row = await s.get(Invitation, invitation_id)
            visible = visible_teams(principal)
            hidden = row is None or (
                (row.kind == PASSWORD_RESET and not principal.allows(SERVER))
                or (visible is not None and row.team_id not in visible)
            )
            if row is None or hidden:
                raise NotFound.of("invitation", invitation_id)
            await s.delete(row)
            await s.commit()

    # ------------------------------------------------------------------------------------------- using links
    async def lookup(self, raw: str, kind: str = INVITE) -> tuple[Invitation, str | None]:
        """The pending link of this token and kind with its team's name; 404 otherwise."""
        async with self.db.session() as s:
            row = await _pending(s, raw, kind)
            team = await s.get(Team, row.team_id) if row.team_id else None
            return row, team.name if team else None

    async def accept(self, raw: str, username: str, password: str) -> User:
        """Create the invited user (no server role) as a member of the invitation's team with its role, and
        use the invitation up, in one transaction. 404 for a link that is not pending, 409 for a taken name."""
        await self.lookup(raw, INVITE)  # a dead link answers 404 before any password is hashed
        username = self.accounts.check_username(username)
        self.accounts.check_password(password)
        password_hash = await passwords.hash_password_async(password)
        taken = Conflict.on("username", "already taken", summary=f"user {username!r} already exists")
        try:
            async with self.db.session() as s:
                if await _user_named(s, username) is not None:
                    raise taken
                invitation = await _consume(s, raw, INVITE)
                user = User(username=username, password_hash=password_hash, role="member")
                s.add(user)
                await s.flush()  # the user row first: the membership references it
                s.add(
                    TeamMember(team_id=invitation.team_id or "", user_id=user.id, role=invitation.role or "")
                )
                await s.commit()
        except IntegrityError:  # the same name registered meanwhile: the link stays unused
            raise taken from None
        return user

    async def reset_password(self, raw: str, password: str) -> User:
        """Set the user's password from a reset link and end every session of theirs (the link is used up)."""
        await self.lookup(raw, PASSWORD_RESET)
        self.accounts.check_password(password)
        password_hash = await passwords.hash_password_async(password)
        async with self.db.session() as s:
            link = await _consume(s, raw, PASSWORD_RESET)
            user = await s.get(User, link.user_id)
            if user is None:  # the link dies with its user (foreign key); kept for safety
                raise _gone()
            user.password_hash = password_hash
            user.updated_at = utcnow()
            s.add(user)
            await s.exec(delete(UserSession).where(col(UserSession.user_id) == user.id))
            await s.commit()
            return user


def owner_protected() -> AccountError:
    return AccountError(
        403, "only a server owner may change, reset or remove a server owner", code="owner_protected"
    )


async def find_user(session: Any, ref: str) -> User:
    """A user by id, else by name; 404 otherwise."""
    user: User | None = await session.get(User, ref)
    if user is None:
        user = await _user_named(session, ref)
    if user is None:
        raise NotFound.of("user", ref)
    return user


async def _user_named(session: Any, username: str) -> User | None:
    found: User | None = (await session.exec(select(User).where(User.username == username))).first()
    return found


def _link(
    kind: str,
    principal: Principal,
    lifetime: timedelta,
    *,
    email: str | None = None,
    username: str | None = None,
) -> tuple[Invitation, str]:
    raw = credentials.new_link_token(PREFIXES[kind])
    now = utcnow()
    row = Invitation(
        token_hash=credentials.digest(raw),
        kind=kind,
        email=email,
        username=username,
        created_by=principal.name[:100],
        created_at=now,
        expires_at=now + lifetime,
    )
    return row, raw


def _pending_clause(raw: str, kind: str) -> list[Any]:
    return [
        col(Invitation.token_hash) == credentials.digest(raw),
        col(Invitation.kind) == kind,
        col(Invitation.used_at).is_(None),
        col(Invitation.expires_at) > utcnow(),
    ]


async def _pending(session: Any, raw: str, kind: str) -> Invitation:
    if not raw.startswith(PREFIXES[kind]):
        raise _gone()
    row: Invitation | None = (
        await session.exec(select(Invitation).where(*_pending_clause(raw, kind)))
    ).first()
    if row is None:
        raise _gone()
    return row


async def _consume(session: Any, raw: str, kind: str) -> Invitation:
    """Mark the link used, in the caller's transaction; 404 unless this very statement did it (one winner)."""
    result = await session.exec(
        update(Invitation).where(*_pending_clause(raw, kind)).values(used_at=utcnow())
    )
    if result.rowcount != 1:
        raise _gone()
    row: Invitation = (
        await session.exec(select(Invitation).where(col(Invitation.token_hash) == credentials.digest(raw)))
    ).one()
    return row


async def _team_names(session: Any, team_ids: list[str]) -> dict[str, str]:
    if not team_ids:
        return {}
    rows = (await session.exec(select(Team.id, Team.name).where(col(Team.id).in_(team_ids)))).all()
    return dict(rows)
