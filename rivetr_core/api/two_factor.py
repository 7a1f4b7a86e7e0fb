"""Two-factor login (TOTP, RFC 6238) over the API: the caller's own enrolment, the second step of a login, and a
server admin's reset of someone's 2FA (docs/two-factor.md).

* ``GET /api/auth/2fa`` — status; ``POST /api/auth/2fa/setup`` — a new secret (``otpauth_uri`` and a QR code as
  SVG); ``POST /api/auth/2fa/confirm {"code"}`` — enables it and returns 10 recovery codes, once;
  ``POST /api/auth/2fa/recovery-codes {"code"}`` — new recovery codes; ``DELETE /api/auth/2fa {"password",
  "code"}`` — disables it. All for a user's own session or token (the admin token has no user: 403).
* ``POST /api/auth/login/2fa {"challenge", "code" | "recovery_code" | "passkey"}`` — public: completes a login
  that answered ``two_factor_required`` (same answer and cookie as a login; rate-limited with it). A passkey's
  options come from :mod:`.passkeys`.
* ``DELETE /api/users/{id}/2fa`` — a server admin removes a user's 2FA (a lost phone and no recovery code).

Permissions are declared in rivetr_core/authz/routes.py. The service (:mod:`rivetr_core.accounts.two_factor`,
with pyotp and segno) loads with the first of these requests, not at start-up.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from quart import Blueprint, Response, current_app, request
from quart_schema import document_response, tag, validate_request

from rivetr_core.accounts.web import SESSION_COOKIE, accounts, own_user
from rivetr_core.apimodel import ApiModel, document_alternatives
from rivetr_core.context import rivetr
from rivetr_core.errors import not_found
from rivetr_core.openapi import responds
from rivetr_core.ratelimit import current_client

from .auth import LoginOut, session_response

if TYPE_CHECKING:
    from rivetr_core.accounts.two_factor import TwoFactorService

bp = Blueprint("two_factor_api", __name__, url_prefix="/api")

CODE_DOC = "The 6-digit code the authenticator app shows now (spaces are ignored)."


class TwoFactorStatusOut(ApiModel):
    enabled: bool = Field(description="Logins of this user ask for a code after the password.")
    pending: bool = Field(description="A setup was started and not confirmed yet.")
    recovery_codes_left: int = Field(description="Unused recovery codes (0 when 2FA is off).")
    passkeys: int = Field(
        description="Registered passkeys (GET /api/auth/passkeys): with one, logins ask for a second factor even "
        "when enabled (the authenticator app) is false."
    )


class EnrolmentOut(ApiModel):
    secret: str = Field(description="Base32 TOTP secret, for typing into an authenticator app by hand.")
    otpauth_uri: str = Field(description="otpauth://totp/... URI (what the QR code holds).")
    qr_svg: str = Field(description="The otpauth URI as a QR code: a standalone SVG document.")


class RecoveryCodesOut(ApiModel):
    recovery_codes: list[str] = Field(
        description="One-time codes that replace a TOTP code at login: shown this once, store them now."
    )


class CodeIn(ApiModel):
    code: str = Field(min_length=1, max_length=16, description=CODE_DOC)


class DisableIn(ApiModel):
    password: str = Field(min_length=1, max_length=1024, description="The account's password.")
    code: str = Field(min_length=1, max_length=32, description=CODE_DOC + " A recovery code works too.")


def _one_factor(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """The document says what the validator checks: exactly one of ``code``, ``recovery_code`` (strings) and
    ``passkey`` (an object): a client following the document is never refused."""
    document_alternatives(schema, FACTORS)


FACTORS = ("code", "recovery_code", "passkey")


class SecondStepIn(ApiModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_one_factor)

    challenge: str = Field(min_length=1, max_length=128, description="From the login's answer.")
    code: str | None = Field(None, min_length=1, max_length=16, description=CODE_DOC)
    recovery_code: str | None = Field(
        None,
        min_length=1,
        max_length=32,
        description="Instead of code: one of the recovery codes (each works once).",
    )
    passkey: dict[str, Any] | None = Field(
        None,
        description="Instead of code: the PublicKeyCredential (JSON form) of navigator.credentials.get() with the "
        "options of POST /api/auth/login/2fa/passkey/options.",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> SecondStepIn:
        if sum(getattr(self, name) is not None for name in FACTORS) != 1:
            raise ValueError("send exactly one of code, recovery_code and passkey")
        return self


def two_factor() -> TwoFactorService:
    from rivetr_core.accounts.two_factor import TwoFactorService

    ctx = rivetr()
    return TwoFactorService(ctx.db, ctx.secrets)


_own_user = partial(own_user, "two-factor login belongs to a user; the admin token has none")


@bp.get("/auth/2fa")
@responds(403)
@tag(["auth"])
@document_response(TwoFactorStatusOut)
async def two_factor_status() -> dict[str, Any]:
    """Whether the caller's logins ask for a code, and how many recovery codes are left."""
    status = await two_factor().status(_own_user())
    return TwoFactorStatusOut.model_validate(status, from_attributes=True).model_dump(mode="json")


@bp.post("/auth/2fa/setup")
@responds(403, 409)
@tag(["auth"])
@document_response(EnrolmentOut)
async def two_factor_setup() -> dict[str, Any]:
    """Start enrolment: a new secret, not in force until confirmed with a code from it (a previous unconfirmed
    one is replaced). 409 when 2FA is already on."""
    enrolment = await two_factor().setup(_own_user())
    return EnrolmentOut.model_validate(enrolment, from_attributes=True).model_dump(mode="json")


@bp.post("/auth/2fa/confirm")
@responds(403, 409)
@tag(["auth"])
@validate_request(CodeIn)
@document_response(RecoveryCodesOut)
async def two_factor_confirm(data: CodeIn) -> dict[str, Any]:
    """Turn 2FA on with a code from the new secret; answers the 10 recovery codes, this once. 422
    ``invalid_code`` for a wrong code."""
    codes = await two_factor().confirm(_own_user(), data.code)
    return RecoveryCodesOut(recovery_codes=codes).model_dump(mode="json")


class RegenerateIn(ApiModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=lambda schema, _model: document_alternatives(schema, ("code", "password")),
    )

    code: str | None = Field(None, min_length=1, max_length=16, description=CODE_DOC)
    password: str | None = Field(
        None,
        min_length=1,
        max_length=1024,
        description="Instead of a code, for an account whose second factors are passkeys only.",
    )

    @model_validator(mode="after")
    def _one(self) -> RegenerateIn:
        if (self.code is None) == (self.password is None):
            raise ValueError("send exactly one of code and password")
        return self


@bp.post("/auth/2fa/recovery-codes")
@responds(403, 409)
@tag(["auth"])
@validate_request(RegenerateIn)
@document_response(RecoveryCodesOut)
async def two_factor_recovery_codes(data: RegenerateIn) -> dict[str, Any]:
    """Replace the recovery codes (the old ones stop working); needs a current code, or the password when the
    account's second factors are passkeys only (422 naming ``code`` when it has an authenticator app)."""
    codes = await two_factor().regenerate_recovery_codes(_own_user(), data.code, password=data.password)
    return RecoveryCodesOut(recovery_codes=codes).model_dump(mode="json")


@bp.delete("/auth/2fa")
@responds(403, 409)
@tag(["auth"])
@validate_request(DisableIn)
async def two_factor_disable(data: DisableIn) -> Response:
    """Turn 2FA off; needs the password and a current code (or a recovery code). In a team that requires 2FA
    the user can no longer act until they enable it again."""
    await two_factor().disable(_own_user(), data.password, data.code)
    return Response(status=204)


@bp.post("/auth/login/2fa")
@responds(401)
@tag(["auth"])
@validate_request(SecondStepIn)
@document_response(LoginOut)
async def login_second_step(data: SecondStepIn) -> Response:
    """Complete a login that answered ``two_factor_required``: the same answer and session cookie as a login.
    The second factor is a TOTP ``code``, a ``recovery_code``, or a ``passkey`` assertion (see
    ``POST /api/auth/login/2fa/passkey/options``). 401 ``invalid_code`` for a wrong one (the fifth kills the challenge), 401 ``invalid_challenge`` when it is
    unknown, expired (5 minutes) or killed: log in again."""
    service = two_factor()
    pending = await service.pending_login(data.challenge)
    request.rivetr_login_user = pending.user.username  # type: ignore[attr-defined]  # audit's actor
    assertion = None
    if data.passkey is not None:
        from rivetr_core.accounts.passkeys import Assertion

        from .passkeys import relying_party

        request.rivetr_login_action = "auth.login.passkey"  # type: ignore[attr-defined]
        assertion = Assertion(credential=data.passkey, rp=relying_party())
    user = await service.complete_login(
        pending, code=data.code, recovery_code=data.recovery_code, passkey=assertion
    )
    result = await accounts().open_session(
        user,
        previous_session_id=request.cookies.get(SESSION_COOKIE),
        ip=current_client(current_app),  # type: ignore[arg-type]
        user_agent=request.headers.get("User-Agent"),
    )
    return session_response(result, 200)


@bp.delete("/users/<user_id>/2fa")
@tag(["users"])
async def reset_user_two_factor(user_id: str) -> Response:
    """Remove a user's two-factor login (a lost phone or key, and no recovery code left).

    ``user_id`` is a user id or username. Their secret, passkeys, recovery codes and pending logins go; they log in with
    the password alone until they enrol again."""
    service = accounts()
    user = await service.get_user(user_id) or await service.get_user_by_name(user_id)
    if user is None or not await two_factor().reset(user.id):
        raise not_found("user", user_id)
    return Response(status=204)
