"""Two-factor login: TOTP (RFC 6238) enrolment, recovery codes, and the second step of a login.

Loaded on first use (idle memory): by a 2FA API call, the profile page, or the login of a user whose
``two_factor_enabled`` is set; pyotp and segno are imported inside the functions that need them.

* **Secrets** are stored encrypted with the server's key (``ctx.secrets``), readable only to verify a code.
* **Codes** are accepted one 30-second step either side of now (clock drift), and never twice: the step of the last
  accepted code is kept (``last_used_step``) and a code of that step or an earlier one is refused.
* **Recovery codes** (10, shown once) are stored as sha256 and each works once.
* **Challenges**: a correct password of a user with 2FA yields a random challenge (stored as sha256) instead of a
  session; it lives :data:`CHALLENGE_LIFETIME` and dies after :data:`MAX_FAILURES` wrong codes (or passkey
  assertions: a passkey, :mod:`.passkeys`, answers it like a code). Kept in the
  database rather than a dict in the process: a restart between the two steps, or a second control-plane process,
  does not lose it, and its expiry can be read and tested like every other stored time.

Codes, secrets and challenges are never logged.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, update
from sqlmodel import col, select

from rivetr_core.db.engine import aware, utcnow
from rivetr_core.models.accounts import User
from rivetr_core.models.passkeys import Passkey, PasskeyChallenge
from rivetr_core.models.two_factor import LoginChallenge, RecoveryCode, UserTotp

from . import credentials
from .service import AccountError, password_matches

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

    from rivetr_core.db import Database
    from rivetr_core.secrets import SecretBox

    from .passkeys import Assertion

ISSUER = "Rivetr"
CHALLENGE_LIFETIME = timedelta(minutes=5)
MAX_FAILURES = 5
RECOVERY_CODE_COUNT = 10
#: Accepted steps either side of the current one: a phone's clock a little off still works.
VALID_WINDOW = 1
STEP_SECONDS = 30
#: Recovery codes are two groups of five from an alphabet without look-alikes (no 0/o, 1/l/i): 50 bits each.
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


@dataclass
class Enrolment:
    """A new, unconfirmed TOTP secret and the two ways to hand it to an authenticator app."""

    secret: str
    otpauth_uri: str
    qr_svg: str


@dataclass
class TwoFactorStatus:
    enabled: bool
    #: An enrolment was started (setup) and not confirmed yet.
    pending: bool
    recovery_codes_left: int
    #: Registered passkeys (:mod:`.passkeys`): with one, two-factor login is on even without TOTP.
    passkeys: int = 0


@dataclass
class Challenge:
    """The first step's answer: the raw challenge goes to the client once; only its sha256 is stored."""

    token: str
    expires_at: datetime
    #: The second factors the user can answer with: "totp", "passkey", "recovery_code".
    methods: list[str] = field(default_factory=list)


@dataclass
class PendingLogin:
    """A live challenge (by id) and its user, between finding it and checking the code."""

    challenge_id: str
    failures: int
    user: User


class SecondFactorRequired(AccountError):
    """Raised by :meth:`AccountService.login` for a user with 2FA instead of opening a session: the caller answers
    with the challenge (see ``POST /api/auth/login``). Unhandled, it is a 401, so a login path that does not know
    about 2FA refuses rather than letting the password alone in."""

    def __init__(self, challenge: Challenge) -> None:
        super().__init__(
            401, "a second factor is required: send a code to /api/auth/login/2fa", code="two_factor_required"
        )
        self.challenge = challenge


def invalid_code(field: str = "code") -> AccountError:
    """A wrong code of a logged-in user's account action: a 422 on the field, never a 401 (which reads as
    "logged out" to the dashboard and the CLI)."""
    return AccountError(422, "is not a valid current code", field=field, code="invalid_code")


def normalize_code(code: str | None) -> str:
    """Authenticator apps show "123 456"; people type it with the space."""
    return "".join((code or "").split())


def normalize_recovery_code(code: str | None) -> str:
    return "".join(ch for ch in (code or "").lower() if ch.isalnum())


def new_recovery_code() -> str:
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def qr_svg(uri: str) -> str:
    """A standalone SVG (with its namespace, so it works as a data: URI) of the QR code of ``uri``, on white: a
    dark page behind a transparent code would make it unreadable to a camera."""
    import io

    import segno

    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="svg", xmldecl=False, scale=4, border=2, light="#fff")
    return buffer.getvalue().decode()


def matching_step(secret: str, code: str, after: int | None, now: float | None = None) -> int | None:
    """The time step (within :data:`VALID_WINDOW` of ``now``) whose code is ``code`` and that is later than
    ``after`` (the last accepted one), or None."""
    import pyotp

    code = normalize_code(code)
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, interval=STEP_SECONDS)
    current = int((time.time() if now is None else now) // STEP_SECONDS)
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if after is not None and step <= after:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


async def start_challenge(db: Database, user: User) -> Challenge:
    """The first step of a login passed (the password is right): a challenge for the second. Needs no secret
    key, so :meth:`AccountService.login` calls it directly."""
    raw = "rvc_" + secrets.token_urlsafe(32)
    now = utcnow()
    expires = now + CHALLENGE_LIFETIME
    async with db.session() as s:
        # Expired challenges are useless; sweeping at creation keeps the table small without a timer.
        await s.exec(delete(LoginChallenge).where(col(LoginChallenge.expires_at) < now))
        s.add(
            LoginChallenge(
                token_hash=credentials.digest(raw), user_id=user.id, created_at=now, expires_at=expires
            )
        )
        await s.commit()
    return Challenge(token=raw, expires_at=expires, methods=await login_methods(db, user.id))


async def login_methods(db: Database, user_id: str) -> list[str]:
    """The second factors ``user_id`` can log in with, for the login page to offer the right ones."""
    async with db.session() as s:
        totp = await s.get(UserTotp, user_id)
        passkey = (await s.exec(select(Passkey.id).where(Passkey.user_id == user_id))).first()
        recovery = (
            await s.exec(
                select(RecoveryCode.id).where(
                    RecoveryCode.user_id == user_id, col(RecoveryCode.used_at).is_(None)
                )
            )
        ).first()
    found = {
        "totp": totp is not None and totp.confirmed_at is not None,
        "passkey": passkey is not None,
        "recovery_code": recovery is not None,
    }
    return [name for name, present in found.items() if present]


async def reset_second_factors(db: Database, user_id: str) -> bool:
    """Remove every second factor of a user (TOTP secret, passkeys, recovery codes, pending challenges) and clear
    ``two_factor_enabled``. False when the user does not exist."""
    async with db.session() as s:
        user = await s.get(User, user_id)
        if user is None:
            return False
        for model in (UserTotp, RecoveryCode, LoginChallenge, Passkey, PasskeyChallenge):
            await s.exec(delete(model).where(col(model.user_id) == user_id))  # type: ignore[attr-defined]
        user.two_factor_enabled = False
        user.updated_at = utcnow()
        s.add(user)
        await s.commit()
    return True


class TwoFactorService:
    """2FA of users over the database; the TOTP secrets sealed with ``box``. Cheap to make (no state)."""

    def __init__(self, db: Database, box: SecretBox) -> None:
        self.db = db
        self.box = box

    # ----------------------------------------------------------------------------------------- enrolment
    async def status(self, user: User) -> TwoFactorStatus:
        async with self.db.session() as s:
            totp = await s.get(UserTotp, user.id)
            left = (
                await s.exec(
                    select(func.count())
                    .select_from(RecoveryCode)
                    .where(RecoveryCode.user_id == user.id, col(RecoveryCode.used_at).is_(None))
                )
            ).one()
            passkeys = (
                await s.exec(select(func.count()).select_from(Passkey).where(Passkey.user_id == user.id))
            ).one()
        enabled = totp is not None and totp.confirmed_at is not None
        return TwoFactorStatus(
            enabled=enabled,
            pending=totp is not None and not enabled,
            # A passkey alone turns two-factor login on too, with recovery codes.
            recovery_codes_left=int(left) if enabled or passkeys else 0,
            passkeys=int(passkeys),
        )

    async def setup(self, user: User) -> Enrolment:
        """A new secret, unconfirmed until :meth:`confirm` (a previous unconfirmed one is replaced). 409 when
        2FA is already on: disable it first (a second secret would silently invalidate the phone's)."""
        import pyotp

        secret = pyotp.random_base32()
        async with self.db.session() as s:
            row = await s.get(UserTotp, user.id)
            if row is not None and row.confirmed_at is not None:
                raise AccountError(
                    409, "two-factor login is already enabled; disable it first", code="two_factor_enabled"
                )
            row = row or UserTotp(user_id=user.id, secret="")
            row.secret = self.box.encrypt(secret)
            row.created_at = utcnow()
            row.last_used_step = None
            s.add(row)
            await s.commit()
        uri = pyotp.TOTP(secret, interval=STEP_SECONDS).provisioning_uri(
            name=user.username, issuer_name=ISSUER
        )
        return Enrolment(secret=secret, otpauth_uri=uri, qr_svg=qr_svg(uri))

    async def confirm(self, user: User, code: str) -> list[str]:
        """Turn 2FA on with the first correct code; returns the recovery codes (shown this once)."""
        async with self.db.session() as s:
            row = await s.get(UserTotp, user.id)
        if row is None:
            raise AccountError(409, "start with POST /api/auth/2fa/setup", code="two_factor_not_set_up")
        if row.confirmed_at is not None:
            raise AccountError(409, "two-factor login is already enabled", code="two_factor_enabled")
        if not await self._use_code(user.id, code):
            raise invalid_code()
        async with self.db.session() as s:
            now = utcnow()
            await s.exec(update(UserTotp).where(col(UserTotp.user_id) == user.id).values(confirmed_at=now))  # type: ignore[call-overload]
            await s.exec(
                update(User).where(col(User.id) == user.id).values(two_factor_enabled=True, updated_at=now)
            )  # type: ignore[call-overload]
            codes = await self.replace_recovery_codes(s, user.id)
            await s.commit()
        user.two_factor_enabled = True
        return codes

    async def regenerate_recovery_codes(
        self, user: User, code: str | None = None, *, password: str | None = None
    ) -> list[str]:
        """New recovery codes (the old ones stop working). The proof: a current TOTP code; an account whose only
        second factors are passkeys (no code to give) proves itself with its password instead."""
        async with self.db.session() as s:
            totp = await s.get(UserTotp, user.id)
            has_passkey = (
                await s.exec(select(Passkey.id).where(Passkey.user_id == user.id))
            ).first() is not None
        has_totp = totp is not None and totp.confirmed_at is not None
        if not has_totp and not has_passkey:
            raise AccountError(409, "two-factor login is not enabled", code="two_factor_disabled")
        if code is not None:
            if not has_totp or not await self._use_code(user.id, code):
                raise invalid_code()
        elif has_totp:
            raise AccountError(422, "give a current code from your authenticator app", field="code")
        elif not await password_matches(self.db, user.id, password or ""):
            raise AccountError(422, "is not your current password", field="password")
        async with self.db.session() as s:
            codes = await self.replace_recovery_codes(s, user.id)
            await s.commit()
        return codes

    async def disable(self, user: User, password: str, code: str) -> None:
        """Turn 2FA off; needs the password and a current code (or a recovery code)."""
        await self._require_enabled(user)
        if not await password_matches(self.db, user.id, password):
            raise AccountError(422, "is not your current password", field="password")
        if not await self._use_code(user.id, code) and not await self._use_recovery_code(user.id, code):
            raise invalid_code()
        async with self.db.session() as s:
            passkey = (await s.exec(select(Passkey.id).where(Passkey.user_id == user.id))).first()
            if passkey is not None:  # still a second factor: only the TOTP secret goes
                await s.exec(delete(UserTotp).where(col(UserTotp.user_id) == user.id))
                await s.commit()
                return
        await self.reset(user.id)
        user.two_factor_enabled = False

    async def reset(self, user_id: str) -> bool:
        """Remove a user's 2FA entirely (their own disable, or a server admin's reset for a lost phone): secret,
        passkeys, recovery codes and pending challenges go, ``two_factor_enabled`` clears. False when the user does
        not exist."""
        return await reset_second_factors(self.db, user_id)

    # ----------------------------------------------------------------------------------------- login
    async def pending_login(self, raw: str) -> PendingLogin:
        """The live challenge ``raw`` and its user. 401 ``invalid_challenge`` when it is unknown, expired (then
        deleted) or was killed; 401 ``account_disabled`` when the user was disabled in between."""
        now = utcnow()
        async with self.db.session() as s:
            challenge = (
                await s.exec(
                    select(LoginChallenge).where(LoginChallenge.token_hash == credentials.digest(raw))
                )
            ).first()
            user = await s.get(User, challenge.user_id) if challenge is not None else None
            if challenge is not None and aware(challenge.expires_at) <= now:
                await s.delete(challenge)
                await s.commit()
                challenge = None
        if challenge is None or user is None:
            raise AccountError(
                401, "the login has expired or was abandoned: log in again", code="invalid_challenge"
            )
        if user.disabled:
            raise AccountError(401, "this account is disabled; ask an administrator", code="account_disabled")
        return PendingLogin(challenge_id=challenge.id, failures=challenge.failures, user=user)

    async def complete_login(
        self,
        pending: PendingLogin,
        *,
        code: str | None = None,
        recovery_code: str | None = None,
        passkey: Assertion | None = None,
    ) -> User:
        """Check the second factor of ``pending`` (a code, a recovery code or a passkey's assertion): its user when
        right (the challenge is used up), else 401 ``invalid_code``; the :data:`MAX_FAILURES`-th wrong answer
        kills the challenge (log in again)."""
        user_id = pending.user.id
        if passkey is not None:
            from .passkeys import PasskeyService

            ok = await PasskeyService(self.db).verify_login(pending, passkey)
        elif code:
            ok = await self._use_code(user_id, code)
        else:
            ok = await self._use_recovery_code(user_id, recovery_code)
        async with self.db.session() as s:
            if ok:
                await s.exec(delete(LoginChallenge).where(col(LoginChallenge.id) == pending.challenge_id))
            else:
                await s.exec(
                    update(LoginChallenge)  # type: ignore[call-overload]
                    .where(col(LoginChallenge.id) == pending.challenge_id)
                    .values(failures=LoginChallenge.failures + 1)
                )
                await s.exec(
                    delete(LoginChallenge).where(
                        col(LoginChallenge.id) == pending.challenge_id,
                        col(LoginChallenge.failures) >= MAX_FAILURES,
                    )
                )
            await s.commit()
        if not ok:
            left = max(0, MAX_FAILURES - pending.failures - 1)
            hint = f"{left} attempts left" if left else "too many wrong codes: log in again"
            wrong = AccountError(401, f"wrong code ({hint})", code="invalid_code")
            wrong.details = {"attempts_left": left}  # 0: the challenge is dead, start from the password again
            raise wrong
        return pending.user

    # ----------------------------------------------------------------------------------------- internals
    async def _require_enabled(self, user: User) -> None:
        async with self.db.session() as s:
            row = await s.get(UserTotp, user.id)
        if row is None or row.confirmed_at is None:
            raise AccountError(409, "two-factor login is not enabled", code="two_factor_disabled")

    async def _use_code(self, user_id: str, code: str | None) -> bool:
        """Whether ``code`` is a current TOTP code not used before; if so its step is recorded, atomically (two
        requests racing with the same code: one wins)."""
        async with self.db.session() as s:
            row = await s.get(UserTotp, user_id)
            if row is None:
                return False
            step = matching_step(self.box.decrypt(row.secret), code or "", row.last_used_step)
            if step is None:
                return False
            result = await s.exec(
                update(UserTotp)  # type: ignore[call-overload]
                .where(col(UserTotp.user_id) == user_id)
                .where((col(UserTotp.last_used_step).is_(None)) | (col(UserTotp.last_used_step) < step))
                .values(last_used_step=step)
            )
            await s.commit()
            return bool(result.rowcount == 1)

    async def _use_recovery_code(self, user_id: str, code: str | None) -> bool:
        """Spend a recovery code (atomically: it works once)."""
        normalized = normalize_recovery_code(code)
        if len(normalized) < 10:
            return False
        async with self.db.session() as s:
            result = await s.exec(
                update(RecoveryCode)  # type: ignore[call-overload]
                .where(
                    col(RecoveryCode.user_id) == user_id,
                    col(RecoveryCode.code_hash) == credentials.digest(normalized),
                    col(RecoveryCode.used_at).is_(None),
                )
                .values(used_at=utcnow())
            )
            await s.commit()
            return bool(result.rowcount == 1)

    @staticmethod
    async def replace_recovery_codes(s: AsyncSession, user_id: str) -> list[str]:
        """New codes in the session ``s`` (committed by the caller), the old ones deleted."""
        codes = [new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
        await s.exec(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))
        for code in codes:
            s.add(RecoveryCode(user_id=user_id, code_hash=credentials.digest(normalize_recovery_code(code))))
        return codes
