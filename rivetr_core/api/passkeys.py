"""Passkeys (WebAuthn) as a second factor over the API (docs/two-factor.md, "Passkeys").

* ``GET /api/auth/passkeys`` — the caller's passkeys; ``POST /api/auth/passkeys/register/options`` — the
  browser's ``navigator.credentials.create()`` options; ``POST /api/auth/passkeys {"credential",
  "name"}`` — stores the key (the account's first second factor also turns two-factor login on and answers 10
  recovery codes, once); ``PUT /api/auth/passkeys/{id} {"name"}``; ``DELETE /api/auth/passkeys/{id}
  {"password"}``. A user's own session or token (the admin token has no user: 403).
* ``POST /api/auth/login/2fa/passkey/options {"challenge"}`` — public, in the login rate-limit bucket: the
  ``navigator.credentials.get()`` options for a login that answered ``two_factor_required``; the assertion then
  goes to ``POST /api/auth/login/2fa {"challenge", "passkey"}`` (:mod:`.two_factor`).

Permissions are declared in rivetr_core/authz/routes.py. The service (:mod:`rivetr_core.accounts.passkeys`, with
py_webauthn and cbor2) loads with the first of these requests, not at start-up.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict, Field
from quart import Blueprint, Response, jsonify, request
from quart_schema import document_response, tag, validate_request

from rivetr_core.accounts.web import own_user
from rivetr_core.apimodel import ApiModel
from rivetr_core.context import rivetr
from rivetr_core.openapi import responds
from rivetr_core.pagination import envelope, page_model

if TYPE_CHECKING:
    from rivetr_core.accounts.passkeys import PasskeyService, RelyingParty

bp = Blueprint("passkeys_api", __name__, url_prefix="/api")

NAME_DOC = "A name to tell your keys apart (e.g. YubiKey, Laptop); 'Passkey' when empty."


class PasskeyOut(ApiModel):
    id: str
    name: str
    created_at: str
    last_used_at: str | None = Field(description="The last login with it; null when never used.")


PasskeyPage = page_model(PasskeyOut, "PasskeyPage")


class RegisteredOut(ApiModel):
    passkey: PasskeyOut
    recovery_codes: list[str] | None = Field(
        description="When this passkey turned two-factor login on: one-time codes that replace it at login, shown "
        "this once. Null when the account already had a second factor."
    )


class RegisterIn(ApiModel):
    credential: dict[str, Any] = Field(
        description="The browser's PublicKeyCredential from navigator.credentials.create(), in its JSON form "
        "(binary fields base64url): id, rawId, type, response {clientDataJSON, attestationObject, transports}."
    )
    name: str | None = Field(None, max_length=100, description=NAME_DOC)


class RenameIn(ApiModel):
    name: str = Field(min_length=1, max_length=100, description=NAME_DOC)


class RemoveIn(ApiModel):
    password: str = Field(min_length=1, max_length=1024, description="The account's password.")


class CreationOptionsOut(ApiModel):
    """WebAuthn's PublicKeyCredentialCreationOptionsJSON (the fields not listed are as WebAuthn defines them)."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    challenge: str = Field(description="base64url; valid for 5 minutes, once.")
    rp: dict[str, Any] = Field(description="{id, name}: id is the dashboard's domain.")
    user: dict[str, Any] = Field(description="{id (base64url), name, displayName}.")
    excludeCredentials: list[dict[str, Any]] = Field(description="The caller's registered keys.")


class RequestOptionsOut(ApiModel):
    """WebAuthn's PublicKeyCredentialRequestOptionsJSON (the fields not listed are as WebAuthn defines them)."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    challenge: str = Field(description="base64url; valid for 5 minutes, once, for this login only.")
    rpId: str = Field(description="The dashboard's domain.")
    allowCredentials: list[dict[str, Any]] = Field(description="The user's registered keys.")


class LoginOptionsIn(ApiModel):
    challenge: str = Field(min_length=1, max_length=128, description="From the login's answer.")


def service() -> PasskeyService:
    from rivetr_core.accounts.passkeys import PasskeyService

    return PasskeyService(rivetr().db)


def relying_party() -> RelyingParty:
    """This request's relying party: the dashboard's configured domain, else the host the browser used."""
    from rivetr_core.accounts.passkeys import relying_party as rp_of

    return rp_of(rivetr().config.server, request.scheme, request.host)


def passkey_json(row: Any) -> dict[str, Any]:
    """A :class:`~rivetr_core.models.passkeys.Passkey` as the API shows it (never its key material)."""
    from rivetr_core.accounts.passkeys import passkey_json as as_json

    return PasskeyOut.model_validate(as_json(row)).model_dump(mode="json")


_own_user = partial(own_user, "passkeys belong to a user; the admin token has none")


@bp.get("/auth/passkeys")
@responds(403)
@tag(["auth"])
@document_response(PasskeyPage)
async def list_passkeys() -> dict[str, Any]:
    """The caller's passkeys, oldest first (a user has a handful: one page, ``next`` is null)."""
    rows = await service().list(_own_user().id)
    return envelope([passkey_json(row) for row in rows], None)


@bp.post("/auth/passkeys/register/options")
@responds(403)
@tag(["auth"])
@document_response(CreationOptionsOut)
async def passkey_registration_options() -> dict[str, Any]:
    """``PublicKeyCredentialCreationOptions`` (JSON form, binary fields base64url) for
    ``navigator.credentials.create()``: the caller's existing keys are excluded, a discoverable credential and user
    verification are preferred. Its challenge is valid for 5 minutes, once."""
    return await service().registration_options(_own_user(), relying_party())


@bp.post("/auth/passkeys")
@responds(403, 409)
@tag(["auth"])
@validate_request(RegisterIn)
@document_response(RegisteredOut, 201)
async def register_passkey(data: RegisterIn) -> tuple[dict[str, Any], int]:
    """Verify the browser's new credential and store it (201). 422 ``invalid_passkey`` when the attestation, the
    origin or the challenge is wrong (expired, already used, or not issued to the caller); 409 when that
    authenticator is registered already. The account's first second factor turns two-factor login on: the answer
    then carries 10 recovery codes, this once."""
    registered = await service().register(_own_user(), data.credential, data.name, relying_party())
    body = RegisteredOut(
        passkey=PasskeyOut.model_validate(passkey_json(registered.passkey)),
        recovery_codes=registered.recovery_codes,
    )
    return body.model_dump(mode="json"), 201


@bp.put("/auth/passkeys/<passkey_id>")
@responds(403, 404)
@tag(["auth"])
@validate_request(RenameIn)
@document_response(PasskeyOut)
async def rename_passkey(passkey_id: str, data: RenameIn) -> dict[str, Any]:
    """Rename one of the caller's passkeys."""
    return passkey_json(await service().rename(_own_user().id, passkey_id, data.name))


@bp.delete("/auth/passkeys/<passkey_id>")
@responds(403, 404)
@tag(["auth"])
@validate_request(RemoveIn)
async def remove_passkey(passkey_id: str, data: RemoveIn) -> Response:
    """Remove one of the caller's passkeys; needs the password (422 on ``password`` when wrong). The last second
    factor gone (no other passkey, no authenticator app), two-factor login turns off and the recovery codes go."""
    await service().remove(_own_user(), passkey_id, data.password)
    return Response(status=204)


@bp.post("/auth/login/2fa/passkey/options")
@responds(401, 409)
@tag(["auth"])
@validate_request(LoginOptionsIn)
@document_response(RequestOptionsOut)
async def passkey_login_options(data: LoginOptionsIn) -> Response:
    """``PublicKeyCredentialRequestOptions`` (JSON form) for ``navigator.credentials.get()`` in the second step of
    a login that answered ``two_factor_required``: only that user's keys are allowed. Send the assertion to ``POST
    /api/auth/login/2fa {"challenge", "passkey"}``. 401 ``invalid_challenge`` when the login is unknown or expired;
    409 ``no_passkey`` when the user has none."""
    from rivetr_core.api.two_factor import two_factor

    pending = await two_factor().pending_login(data.challenge)
    request.rivetr_login_user = pending.user.username  # type: ignore[attr-defined]
    response = jsonify(await service().login_options(pending, relying_party()))
    response.headers["Cache-Control"] = "no-store"
    return response
