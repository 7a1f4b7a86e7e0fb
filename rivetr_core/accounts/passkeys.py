"""Passkeys (WebAuthn) as a second factor beside TOTP: registration by a logged-in user, and the assertion that
answers a login's challenge (:mod:`.two_factor`). docs/two-factor.md.

The only module that imports ``webauthn`` (py_webauthn, with cbor2), inside the functions that need it: neither
loads at start-up (idle memory).

* **Relying party**: the id is the dashboard's domain (``[server] dashboard_domain``, else the host of
  ``external_url``, else the request's host without port); the expected origin is the request's own (plus the
  configured ones). A browser binds a passkey to that id, so a look-alike site cannot obtain an assertion for it.
* **Challenges** are 32 random bytes, stored as sha256, for 5 minutes, used once (deleted by the request that
  presents them). The challenge a browser signed is read from its ``clientDataJSON`` and trusted only when its hash
  names a live challenge the server issued to that user for that purpose (and, at login, that login).
* **Stored**: the credential id and the public key, nothing secret; the signature counter must rise.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import delete, func, update
from sqlmodel import col, select

from rivetr_core.db.engine import isoformat, utcnow
from rivetr_core.models.accounts import User
from rivetr_core.models.passkeys import Passkey, PasskeyChallenge
from rivetr_core.models.two_factor import UserTotp

from . import credentials
from .service import AccountError, password_matches
from .two_factor import CHALLENGE_LIFETIME, ISSUER, PendingLogin, TwoFactorService, reset_second_factors

if TYPE_CHECKING:
    from rivetr_core.config import ServerConfig
    from rivetr_core.db import Database

DEFAULT_NAME = "Passkey"
REGISTER, LOGIN = "register", "login"
#: Transports a browser reports (usb, nfc, ble, hybrid, internal, smart-card): kept to hint the next ceremony.
_MAX_TRANSPORTS = 8


@dataclass(frozen=True)
class RelyingParty:
    id: str
    origins: tuple[str, ...]


@dataclass
class Assertion:
    """A login's passkey answer: the browser's ``PublicKeyCredential`` JSON and the relying party it was asked
    for."""

    credential: dict[str, Any]
    rp: RelyingParty


@dataclass
class Registered:
    passkey: Passkey
    #: The recovery codes when this passkey turned two-factor login on (shown once), else None.
    recovery_codes: list[str] | None


def relying_party(server: ServerConfig, scheme: str, host: str) -> RelyingParty:
    """The relying party of a request to ``scheme://host`` (``host`` as the Host header has it, port included)."""
    origins = [f"{scheme}://{host}"]
    rp_id = urlsplit(f"//{host}").hostname or host
    external = urlsplit(server.external_url) if server.external_url else None
    if external is not None and external.hostname:
        rp_id = external.hostname
        origins.append(f"{external.scheme}://{external.netloc}")
    if server.dashboard_domain:
        rp_id = server.dashboard_domain
        origins.append(f"https://{server.dashboard_domain}")
    return RelyingParty(id=rp_id, origins=tuple(dict.fromkeys(origins)))


def passkey_json(row: Passkey) -> dict[str, Any]:
    """A passkey as the API and the profile page show it: never its key material."""
    return {
        "id": row.id,
        "name": row.name,
        "created_at": isoformat(row.created_at) or "",
        "last_used_at": isoformat(row.last_used_at),
    }


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signed_challenge(credential: dict[str, Any]) -> str | None:
    """The challenge (base64url) the browser signed, from the credential's ``clientDataJSON``; None if malformed."""
    try:
        client_data = json.loads(_unb64url(credential["response"]["clientDataJSON"]))
        challenge = client_data["challenge"]
    except (KeyError, TypeError, ValueError):
        return None
    return challenge if isinstance(challenge, str) and 0 < len(challenge) <= 128 else None


def invalid_passkey(reason: str) -> AccountError:
    """A registration the server cannot accept: a 422 on ``credential`` (the user is logged in: never a 401)."""
    return AccountError(422, reason, field="credential", code="invalid_passkey")


class PasskeyService:
    """Passkeys of users over the database. Cheap to make (no state)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # ----------------------------------------------------------------------------------------- the user's keys
    async def list(self, user_id: str) -> list[Passkey]:
        async with self.db.session() as s:
            rows = await s.exec(
                select(Passkey)
                .where(Passkey.user_id == user_id)
                .order_by(col(Passkey.created_at), col(Passkey.id))
            )
            return list(rows.all())

    async def get(self, user_id: str, passkey_id: str) -> Passkey:
        async with self.db.session() as s:
            row = await s.get(Passkey, passkey_id)
        if row is None or row.user_id != user_id:  # another user's key is not found either
            raise AccountError(404, f"passkey {passkey_id!r} not found", code="not_found")
        return row

    async def rename(self, user_id: str, passkey_id: str, name: str) -> Passkey:
        row = await self.get(user_id, passkey_id)
        async with self.db.session() as s:
            row.name = name.strip() or DEFAULT_NAME
            s.add(row)
            await s.commit()
            await s.refresh(row)
        return row

    async def remove(self, user: User, passkey_id: str, password: str) -> None:
        """Remove a passkey; needs the password. The last second factor gone (no other passkey, no TOTP), two-factor
        login turns off with its recovery codes, as when TOTP is disabled."""
        await self.get(user.id, passkey_id)
        if not await password_matches(self.db, user.id, password):
            raise AccountError(422, "is not your current password", field="password")
        async with self.db.session() as s:
            await s.exec(
                delete(Passkey).where(col(Passkey.id) == passkey_id, col(Passkey.user_id) == user.id)
            )
            left = (
                await s.exec(select(func.count()).select_from(Passkey).where(Passkey.user_id == user.id))
            ).one()
            totp = await s.get(UserTotp, user.id)
            await s.commit()
        if not left and (totp is None or totp.confirmed_at is None):
            await reset_second_factors(self.db, user.id)
            user.two_factor_enabled = False

    # ----------------------------------------------------------------------------------------- registration
    async def registration_options(self, user: User, rp: RelyingParty) -> dict[str, Any]:
        """``PublicKeyCredentialCreationOptions`` (JSON form) for a new key of ``user``: their existing keys
        excluded (one authenticator, one passkey), resident key and user verification preferred."""
        from webauthn import generate_registration_options, options_to_json
        from webauthn.helpers.structs import (
            AuthenticatorSelectionCriteria,
            AuthenticatorTransport,
            PublicKeyCredentialDescriptor,
            ResidentKeyRequirement,
            UserVerificationRequirement,
        )

        known = {t.value for t in AuthenticatorTransport}
        existing = [
            PublicKeyCredentialDescriptor(
                id=_unb64url(row.credential_id),
                transports=[AuthenticatorTransport(t) for t in row.transports or [] if t in known] or None,
            )
            for row in await self.list(user.id)
        ]
        challenge = await self._issue(user.id, REGISTER)
        options = generate_registration_options(
            rp_id=rp.id,
            rp_name=ISSUER,
            user_id=user.id.encode(),
            user_name=user.username,
            user_display_name=user.username,
            challenge=challenge,
            exclude_credentials=existing,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.PREFERRED,
                user_verification=UserVerificationRequirement.PREFERRED,
            ),
        )
        result: dict[str, Any] = json.loads(options_to_json(options))
        return result

    async def register(
        self, user: User, credential: dict[str, Any], name: str | None, rp: RelyingParty
    ) -> Registered:
        """Verify the browser's answer to :meth:`registration_options` and store the key. The first second factor
        of the account turns two-factor login on and comes with 10 recovery codes (shown once)."""
        from webauthn import verify_registration_response
        from webauthn.helpers.exceptions import WebAuthnException

        expected = await self._consume(user.id, REGISTER, signed_challenge(credential), None)
        if expected is None:
            raise invalid_passkey("the registration has expired or was already used: start again")
        try:
            verified = verify_registration_response(
                credential=credential,
                expected_challenge=expected,
                expected_rp_id=rp.id,
                expected_origin=list(rp.origins),
            )
        except (WebAuthnException, KeyError, TypeError, ValueError) as exc:
            raise invalid_passkey(f"the authenticator's answer was not accepted: {exc}") from None
        transports = credential.get("response", {}).get("transports")
        row = Passkey(
            user_id=user.id,
            credential_id=_b64url(verified.credential_id),
            public_key=_b64url(verified.credential_public_key),
            sign_count=verified.sign_count,
            transports=[t for t in transports if isinstance(t, str)][:_MAX_TRANSPORTS]
            if isinstance(transports, list)
            else None,
            name=(name or "").strip() or DEFAULT_NAME,
        )
        codes = None
        async with self.db.session() as s:
            taken = (
                await s.exec(select(Passkey.id).where(Passkey.credential_id == row.credential_id))
            ).first()
            if taken is not None:
                raise AccountError(409, "this authenticator is already registered", code="passkey_exists")
            s.add(row)
            fresh = await s.get(User, user.id)
            if fresh is not None and not fresh.two_factor_enabled:
                fresh.two_factor_enabled = True
                fresh.updated_at = utcnow()
                s.add(fresh)
                codes = await TwoFactorService.replace_recovery_codes(s, user.id)
            await s.commit()
            await s.refresh(row)
        user.two_factor_enabled = True
        return Registered(passkey=row, recovery_codes=codes)

    # ----------------------------------------------------------------------------------------- login
    async def login_options(self, pending: PendingLogin, rp: RelyingParty) -> dict[str, Any]:
        """``PublicKeyCredentialRequestOptions`` (JSON form) for the login ``pending``: its user's keys only.
        409 ``no_passkey`` when the user has none."""
        from webauthn import generate_authentication_options, options_to_json
        from webauthn.helpers.structs import (
            AuthenticatorTransport,
            PublicKeyCredentialDescriptor,
            UserVerificationRequirement,
        )

        rows = await self.list(pending.user.id)
        if not rows:
            raise AccountError(409, "this account has no passkey: use a code", code="no_passkey")
        known = {t.value for t in AuthenticatorTransport}
        challenge = await self._issue(pending.user.id, LOGIN, pending.challenge_id)
        options = generate_authentication_options(
            rp_id=rp.id,
            challenge=challenge,
            allow_credentials=[
                PublicKeyCredentialDescriptor(
                    id=_unb64url(row.credential_id),
                    transports=[AuthenticatorTransport(t) for t in row.transports or [] if t in known]
                    or None,
                )
                for row in rows
            ],
            user_verification=UserVerificationRequirement.PREFERRED,
        )
        result: dict[str, Any] = json.loads(options_to_json(options))
        return result

    async def verify_login(self, pending: PendingLogin, assertion: Assertion) -> bool:
        """Whether ``assertion`` is a valid signature, by one of the login's user's keys, over a challenge issued
        for this login and not used before; if so the key's counter and last use are recorded."""
        from webauthn import verify_authentication_response
        from webauthn.helpers.exceptions import WebAuthnException

        user_id = pending.user.id
        expected = await self._consume(
            user_id, LOGIN, signed_challenge(assertion.credential), pending.challenge_id
        )
        credential_id = assertion.credential.get("id")
        if expected is None or not isinstance(credential_id, str):
            return False
        async with self.db.session() as s:
            row = (
                await s.exec(
                    select(Passkey).where(Passkey.credential_id == credential_id, Passkey.user_id == user_id)
                )
            ).first()
        if row is None:  # unknown, or another user's key
            return False
        try:
            verified = verify_authentication_response(
                credential=assertion.credential,
                expected_challenge=expected,
                expected_rp_id=assertion.rp.id,
                expected_origin=list(assertion.rp.origins),
                credential_public_key=_unb64url(row.public_key),
                credential_current_sign_count=row.sign_count,
            )
        except (WebAuthnException, KeyError, TypeError, ValueError):
            return False
        async with self.db.session() as s:
            # Conditional on the counter read: of two requests racing with assertions of one key, one wins.
            result = await s.exec(
                update(Passkey)  # type: ignore[call-overload]
                .where(col(Passkey.id) == row.id, col(Passkey.sign_count) == row.sign_count)
                .values(sign_count=verified.new_sign_count, last_used_at=utcnow())
            )
            await s.commit()
        return bool(result.rowcount == 1)

    # ----------------------------------------------------------------------------------------- challenges
    async def _issue(self, user_id: str, purpose: str, login_challenge_id: str | None = None) -> bytes:
        raw = secrets.token_bytes(32)
        now = utcnow()
        async with self.db.session() as s:
            # Expired ones are useless; sweeping at creation keeps the table small without a timer.
            await s.exec(delete(PasskeyChallenge).where(col(PasskeyChallenge.expires_at) < now))
            s.add(
                PasskeyChallenge(
                    challenge_hash=credentials.digest(_b64url(raw)),
                    user_id=user_id,
                    purpose=purpose,
                    login_challenge_id=login_challenge_id,
                    created_at=now,
                    expires_at=now + CHALLENGE_LIFETIME,
                )
            )
            await s.commit()
        return raw

    async def _consume(
        self, user_id: str, purpose: str, signed: str | None, login_challenge_id: str | None
    ) -> bytes | None:
        """The challenge ``signed`` (base64url) as bytes when it is a live one issued to ``user_id`` for
        ``purpose`` (and login): deleted atomically, so of two requests presenting it one wins. Else None."""
        if signed is None:
            return None
        async with self.db.session() as s:
            result = await s.exec(
                delete(PasskeyChallenge).where(
                    col(PasskeyChallenge.challenge_hash) == credentials.digest(signed),
                    col(PasskeyChallenge.user_id) == user_id,
                    col(PasskeyChallenge.purpose) == purpose,
                    col(PasskeyChallenge.login_challenge_id) == login_challenge_id
                    if login_challenge_id is not None
                    else col(PasskeyChallenge.login_challenge_id).is_(None),
                    col(PasskeyChallenge.expires_at) > utcnow(),
                )
            )
            await s.commit()
        if result.rowcount != 1:
            return None
        try:
            return _unb64url(signed)
        except ValueError:
            return None
