"""AccountService: users, sessions and API tokens over the database. Kept in ``ctx.services["accounts"]``.

Every method validates its input and raises :class:`AccountError` (a domain error naming the field, with the
status the API answers) so the API, the dashboard and the CLI report problems the same way. How users,
sessions and tokens are shown is in :mod:`.responses` (re-exported here).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func
from sqlmodel import col, select

from rivetr_core.config import RivetrConfig
from rivetr_core.contract.errors import RivetrError
from rivetr_core.db import Database
from rivetr_core.db.engine import aware, utcnow
from rivetr_core.models.accounts import ApiToken, User, UserSession
from rivetr_core.pagination import PageQuery, keyset_page, list_page
from rivetr_core.ttlcache import TtlCache

from . import credentials, passwords
from .responses import session_json, token_json, user_json

if TYPE_CHECKING:
    from rivetr_core.authz.principals import PrincipalResolver

    from .two_factor import Challenge

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
TOKEN_NAME_MAX = 100
# last_seen/last_used are bookkeeping: writing them on every request would turn reads into writes.
TOUCH_INTERVAL = timedelta(seconds=60)
#: How long a verified API token is trusted without asking the database again (a token revoked by another
#: process, not through this service, keeps working at most this long), and how many are remembered.
#: Words the users API uses in place of a user (``/api/users/me``): nobody may take them as a name.
RESERVED_USERNAMES = frozenset({"me"})
TOKEN_CACHE_SECONDS = 5.0
TOKEN_CACHE_SIZE = 1024


#: The API's code for each status an account operation is refused with (unless the operation names its own).
_CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found", 409: "conflict", 422: "validation_error"}


class AccountError(RivetrError):
    """A refused account operation; ``field`` names the offending input (None when it is not one field),
    ``reason`` is the message without the field's name (what a form shows next to the field)."""

    def __init__(
        self, status: int, message: str, *, field: str | None = None, code: str | None = None
    ) -> None:
        details = [{"field": field, "message": message}] if field else None
        super().__init__(
            f"{field}: {message}" if field and status == 422 else message,
            details=details,
            code=code or _CODES.get(status, "rivetr_error"),
        )
        self.status = status
        self.field = field
        self.reason = message


async def password_matches(db: Database, user_id: str, password: str) -> bool:
    """Whether ``password`` is the user's password as stored now. Read fresh, never from a ``User`` at hand: the
    caller's may come from the token cache and still hold the hash from before a password change."""
    async with db.session() as s:
        row = await s.get(User, user_id)
    return await passwords.verify_password_async(row.password_hash if row else None, password or "")


def second_factor_challenge(error: AccountError) -> Challenge | None:
    """The challenge when ``error`` is :meth:`AccountService.login` asking for the second factor (a
    :class:`~.two_factor.SecondFactorRequired`), else None. Checked by code, so a login without 2FA never imports
    the two-factor module."""
    return getattr(error, "challenge", None) if error.code == "two_factor_required" else None


@dataclass
class LoginResult:
    """A new session. ``session_id`` is the raw cookie value: hand it to the client, never log it."""

    user: User
    session: UserSession
    session_id: str

    @property
    def csrf_token(self) -> str:
        return credentials.csrf_for_session(self.session_id)


@dataclass
class SessionInfo:
    user: User
    session: UserSession
    csrf_token: str


class AccountService:
    def __init__(self, db: Database, config: RivetrConfig) -> None:
        self.db = db
        self.config = config
        self._setup_lock = asyncio.Lock()
        #: sha256 of a bearer token → (monotonic time looked up, token, owner): see :meth:`verify_token`.
        self._token_cache: TtlCache[tuple[ApiToken, User | None] | None] = TtlCache(
            TOKEN_CACHE_SECONDS, TOKEN_CACHE_SIZE
        )
        self._token_generation = 0  # bumped by each revocation: a lookup begun before one is not cached
        self._principals: PrincipalResolver | None = None

    @property
    def principals(self) -> PrincipalResolver:
        """Who a session or token is, with roles (built on the first request of a user: idle memory)."""
        if self._principals is None:
            from rivetr_core.authz.principals import PrincipalResolver

            self._principals = PrincipalResolver(self.db)
        return self._principals

    # ------------------------------------------------------------------------------------------- users
    @property
    def min_password_length(self) -> int:
        return self.config.auth.min_password_length

    @property
    def session_lifetime(self) -> timedelta:
        return timedelta(hours=self.config.auth.session_hours)

    async def user_count(self) -> int:
        async with self.db.session() as s:
            return int((await s.exec(select(func.count()).select_from(User))).one())

    async def setup_required(self) -> bool:
        return await self.user_count() == 0

    def check_username(self, username: str) -> str:
        """A valid name for a new user (setup, invitation, an admin creating one)."""
        username = (username or "").strip()
        if not USERNAME_RE.match(username):
            raise AccountError(
                422,
                "1-64 characters: letters, digits and _ . @ - (starting with a letter or digit)",
                field="username",
            )
        if username.lower() in RESERVED_USERNAMES:
            raise AccountError(422, "is reserved (/api/users/me names the caller)", field="username")
        return username

    def check_password(self, password: str, field: str = "password") -> str:
        problem = passwords.password_problem(password or "", self.min_password_length)
        if problem:
            raise AccountError(422, problem, field=field)
        return password

    async def create_first_user(self, username: str, password: str) -> User:
        """First-run setup: create the admin. Refused with 409 once any user exists."""
        username = self.check_username(username)
        self.check_password(password)
        # The lock closes the check-then-insert race between two concurrent setup requests in this process.
        async with self._setup_lock:
            if not await self.setup_required():
                raise AccountError(
                    409,
                    "setup is already done: an administrator exists; log in instead",
                    code="already_set_up",
                )
            return await self._insert_user(username, password, first=True)

    async def set_up(
        self, username: str, password: str, *, ip: str | None = None, user_agent: str | None = None
    ) -> LoginResult:
        """First-run setup done in one step: the administrator created and logged in."""
        user = await self.create_first_user(username, password)
        return await self.open_session(user, ip=ip, user_agent=user_agent)

    async def create_user(self, username: str, password: str, role: str = "admin") -> User:
        username = self.check_username(username)
        self.check_password(password)
        if await self.get_user_by_name(username) is not None:
            raise AccountError(409, f"user {username!r} already exists", field="username")
        return await self._insert_user(username, password, role)

    async def _insert_user(
        self, username: str, password: str, role: str = "admin", *, first: bool = False
    ) -> User:
        """``first``: the first user (first-run setup) is the server owner and owner of the default team."""
        user = User(
            username=username,
            password_hash=await passwords.hash_password_async(password),
            role=role,
            is_server_owner=first,
        )
        async with self.db.session() as s:
            s.add(user)
            if first:  # imported here: teams load on first use, never at start-up (idle memory)
                from rivetr_core.services.teams import first_owner_membership

                await s.flush()  # the user row first: the membership references it
                s.add(first_owner_membership(user.id))
            await s.commit()
        return user

    async def get_user(self, user_id: str) -> User | None:
        async with self.db.session() as s:
            return await s.get(User, user_id)

    async def get_user_by_name(self, username: str) -> User | None:
        async with self.db.session() as s:
            return (await s.exec(select(User).where(User.username == username))).first()

    async def list_users(self) -> list[User]:
        async with self.db.session() as s:
            return list((await s.exec(select(User).order_by(col(User.created_at)))).all())

    async def change_password(self, user: User, current: str, new: str) -> None:
        """Change a password (the current one must match); every other session of the user ends."""
        if not await password_matches(self.db, user.id, current):
            raise AccountError(422, "is not your current password", field="current_password")
        self.check_password(new, "new_password")
        new_hash = await passwords.hash_password_async(new)
        async with self.db.session() as s:
            row = await s.get(User, user.id)
            if row is None:
                raise AccountError(404, "user no longer exists")
            row.password_hash = new_hash
            row.updated_at = utcnow()
            s.add(row)
            await s.exec(delete(UserSession).where(col(UserSession.user_id) == user.id))
            await s.commit()

    # ------------------------------------------------------------------------------------------- sessions
    async def authenticate(self, username: str, password: str) -> User | None:
        """The user when the password matches, else None (same cost whether or not the user exists)."""
        user = await self.get_user_by_name((username or "").strip())
        ok = await passwords.verify_password_async(user.password_hash if user else None, password or "")
        if not ok or user is None:
            return None
        if passwords.needs_rehash(user.password_hash):
            user.password_hash = await passwords.hash_password_async(password)
            async with self.db.session() as s:
                s.add(user)
                await s.commit()
        return user

    async def login(
        self,
        username: str,
        password: str,
        *,
        previous_session_id: str | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> LoginResult:
        """Check the password and open a new session (the previous one, if any, ends: ids rotate at login)."""
        user = await self.authenticate(username, password)
        if user is None:
            raise AccountError(401, "wrong username or password", code="invalid_credentials")
        if user.disabled:  # after the password check: only the user learns that the account is disabled
            raise AccountError(401, "this account is disabled; ask an administrator", code="account_disabled")
        if user.two_factor_enabled:  # no session on the password alone: a challenge for the second step
            from .two_factor import SecondFactorRequired, start_challenge

            raise SecondFactorRequired(await start_challenge(self.db, user))
        return await self.open_session(
            user, previous_session_id=previous_session_id, ip=ip, user_agent=user_agent
        )

    async def open_session(
        self,
        user: User,
        *,
        previous_session_id: str | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> LoginResult:
        raw = credentials.new_session_id()
        now = utcnow()
        session = UserSession(
            token_hash=credentials.digest(raw),
            user_id=user.id,
            created_at=now,
            expires_at=now + self.session_lifetime,
            last_seen_at=now,
            ip=(ip or "")[:64] or None,
            user_agent=(user_agent or "")[:255] or None,
        )
        async with self.db.session() as s:
            if previous_session_id:
                await s.exec(
                    delete(UserSession).where(
                        col(UserSession.token_hash) == credentials.digest(previous_session_id)
                    )
                )
            # Expired rows are useless; sweeping them at login keeps the table small without a timer.
            await s.exec(delete(UserSession).where(col(UserSession.expires_at) < now))
            row = await s.get(User, user.id)
            if row is not None:
                row.last_login_at = now
                s.add(row)
            s.add(session)
            await s.commit()
        return LoginResult(user=user, session=session, session_id=raw)

    async def session_for(self, raw_session_id: str | None) -> SessionInfo | None:
        """The live session and its user for a cookie value, or None (unknown, expired or revoked)."""
        if not raw_session_id or not raw_session_id.startswith(credentials.SESSION_PREFIX):
            return None
        now = utcnow()
        async with self.db.session() as s:
            session = (
                await s.exec(
                    select(UserSession).where(UserSession.token_hash == credentials.digest(raw_session_id))
                )
            ).first()
            if session is None:
                return None
            if aware(session.expires_at) <= now:  # type: ignore[operator]
                await s.delete(session)
                await s.commit()
                return None
            user = await s.get(User, session.user_id)
            if user is None:
                return None
            if now - aware(session.last_seen_at) > TOUCH_INTERVAL:  # type: ignore[operator]
                session.last_seen_at = now
                s.add(session)
                await s.commit()
        return SessionInfo(
            user=user, session=session, csrf_token=credentials.csrf_for_session(raw_session_id)
        )

    async def logout(self, raw_session_id: str | None) -> None:
        if not raw_session_id:
            return
        async with self.db.session() as s:
            await s.exec(
                delete(UserSession).where(col(UserSession.token_hash) == credentials.digest(raw_session_id))
            )
            await s.commit()

    async def list_sessions(self, user_id: str | None = None) -> list[tuple[UserSession, str]]:
        """Live sessions (of one user, or everyone's) with their user names, newest first."""
        query = (
            select(UserSession, User.username)
            .join(User, col(User.id) == col(UserSession.user_id))
            .where(col(UserSession.expires_at) > utcnow())
            .order_by(col(UserSession.created_at).desc())
        )
        if user_id:
            query = query.where(UserSession.user_id == user_id)
        async with self.db.session() as s:
            return [(row, name) for row, name in (await s.exec(query)).all()]

    async def session_page(
        self, page: PageQuery, user_id: str | None = None
    ) -> tuple[list[tuple[UserSession, str]], str | None]:
        """One page of live sessions (``user_id``'s, or every user's), newest first, and the next cursor."""
        return list_page(
            await self.list_sessions(user_id),
            lambda pair: (pair[0].created_at, pair[0].id),
            (datetime, str),
            page,
            descending=True,
        )

    async def switch_team(self, user: User, session_id: str, team_ref: str | None) -> str | None:
        """Make a dashboard session act in the team ``team_ref`` names (id or name; None: back to the default
        choice) and return its id. 404 naming ``team_id`` for a team the user may not act in."""
        team_id = None
        if team_ref:
            options = await self.principals.available_teams(user)
            team_id = next((t.id for t in options if team_ref in (t.id, t.name)), None)
            if team_id is None:
                raise AccountError(404, f"no team {team_ref!r} you can act in", field="team_id")
        async with self.db.session() as s:
            row = await s.get(UserSession, session_id)
            if row is not None:
                row.current_team_id = team_id
                s.add(row)
                await s.commit()
        return team_id

    async def revoke_session(self, session_id: str, user_id: str | None = None) -> bool:
        """End a session by its public id (not the cookie value), only if it is ``user_id``'s when given; False
        when there is no such session."""
        async with self.db.session() as s:
            row = await s.get(UserSession, session_id)
            if row is None or (user_id is not None and row.user_id != user_id):
                return False
            await s.delete(row)
            await s.commit()
        return True

    async def revoke_other_sessions(self, user_id: str, keep_session_id: str | None) -> int:
        """End every session of a user except ``keep_session_id`` (the caller's own); how many ended."""
        query = delete(UserSession).where(col(UserSession.user_id) == user_id)
        if keep_session_id:
            query = query.where(col(UserSession.id) != keep_session_id)
        async with self.db.session() as s:
            result = await s.exec(query)
            await s.commit()
        return int(result.rowcount or 0)

    # ------------------------------------------------------------------------------------------- API tokens
    async def create_token(
        self,
        name: str,
        *,
        user: User | None = None,
        created_by: str = "admin",
        expires_in_days: int | None = None,
        scopes: Iterable[str] = ("admin",),
        team_id: str | None = None,
        app_ids: list[str] | None = None,
        project_ids: list[str] | None = None,
    ) -> tuple[ApiToken, str]:
        """Create an API token. Returns (row, raw token); the raw value exists only in this return value.
        ``scopes``, ``team_id`` and the restrictions are stored as given: the API checks them first
        (:mod:`.token_scopes`); a token made by code without them has every right its user has."""
        name = (name or "").strip()
        if not name or len(name) > TOKEN_NAME_MAX:
            raise AccountError(422, f"must be 1-{TOKEN_NAME_MAX} characters", field="name")
        if expires_in_days is not None and not 1 <= expires_in_days <= 3650:
            raise AccountError(422, "must be between 1 and 3650 days", field="expires_in_days")
        raw = credentials.new_api_token()
        now = utcnow()
        token = ApiToken(
            name=name,
            token_hash=credentials.digest(raw),
            prefix=raw[:12],
            user_id=user.id if user else None,
            created_by=created_by[:100],
            created_at=now,
            expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
            scopes=",".join(sorted(set(scopes))),
            team_id=team_id,
            app_ids=app_ids,
            project_ids=project_ids,
        )
        async with self.db.session() as s:
            s.add(token)
            await s.commit()
        return token, raw

    def _owned(self, query: Any, owner: User | None, everyone: bool) -> Any:
        """Only ``owner``'s tokens (the admin token owns the tokens it made, which have no user) unless
        ``everyone``."""
        if everyone:
            return query
        return query.where(ApiToken.user_id == (owner.id if owner else None))

    async def list_tokens(
        self, owner: User | None = None, *, everyone: bool = True, team_id: str | None = None
    ) -> list[ApiToken]:
        """Tokens (``owner``'s, or everyone's), newest first; only those bound to ``team_id`` when given."""
        query = self._owned(select(ApiToken), owner, everyone).order_by(col(ApiToken.created_at).desc())
        if team_id is not None:
            query = query.where(ApiToken.team_id == team_id)
        async with self.db.session() as s:
            return list((await s.exec(query)).all())

    async def token_page(
        self, page: PageQuery, owner: User | None = None, *, everyone: bool = True
    ) -> tuple[list[ApiToken], str | None]:
        """One page of API tokens (``owner``'s, or everyone's) in creation order and the next cursor."""
        async with self.db.session() as s:
            return await keyset_page(s, self._owned(select(ApiToken), owner, everyone), ApiToken, page)

    async def get_token(self, token_id: str) -> ApiToken | None:
        async with self.db.session() as s:
            return await s.get(ApiToken, token_id)

    async def revoke_token(self, token_id: str) -> bool:
        """Delete a token; False when there is no such token. Requests carrying it fail from now on (the
        verification cache is emptied)."""
        self.forget_verified_tokens()
        deleted = await self.db.delete(ApiToken, token_id)
        self.forget_verified_tokens()
        return deleted

    def forget_verified_tokens(self) -> None:
        """Empty the verification cache (see :meth:`verify_token`): call it around any change that ends tokens
        (a revocation, a user disabled or deleted), so they stop working at once."""
        self._token_generation += 1
        self._token_cache.clear()

    async def verify_token(self, raw: str) -> tuple[ApiToken, User | None] | None:
        """The token (and its owner) for a bearer value, or None when unknown or expired.

        A found token is remembered for :data:`TOKEN_CACHE_SECONDS`, keyed by its sha256 (never the raw
        value): scripts and the CLI send the same token on every request, and the database round-trips of
        the lookup were a large share of a small request. Expiry is still checked on every request;
        revoking through this service empties the cache; unknown tokens are never cached (each miss
        queries, so a guess cannot linger or fill memory)."""
        if not credentials.looks_like_api_token(raw):
            return None
        key = credentials.digest(raw)
        found = await self._token_cache.get(
            key,
            lambda: self._lookup_token(key),
            generation=self._token_generation,
            cacheable=lambda value: value is not None,
        )
        if found is None:
            return None
        token = found[0]
        if token.expires_at is not None and aware(token.expires_at) <= utcnow():  # type: ignore[operator]
            return None
        return found

    async def _lookup_token(self, key: str) -> tuple[ApiToken, User | None] | None:
        now = utcnow()
        async with self.db.session() as s:
            token = (await s.exec(select(ApiToken).where(ApiToken.token_hash == key))).first()
            if token is None:
                return None
            if token.expires_at is not None and aware(token.expires_at) <= now:  # type: ignore[operator]
                return None
            user = await s.get(User, token.user_id) if token.user_id else None
            if token.last_used_at is None or now - aware(token.last_used_at) > TOUCH_INTERVAL:  # type: ignore[operator]
                token.last_used_at = now
                s.add(token)
                await s.commit()
        return token, user


def token_principal(token: ApiToken, user: User | None) -> str:
    return f"token:{user.username if user else 'admin'}/{token.name}"


__all__ = [
    "AccountError",
    "AccountService",
    "LoginResult",
    "SessionInfo",
    "session_json",
    "token_json",
    "token_principal",
    "user_json",
]
