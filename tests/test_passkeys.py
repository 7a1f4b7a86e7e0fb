"""Passkeys (WebAuthn) as a second factor through the real app and database, with a software authenticator written
here (an EC P-256 key, "none" attestation): registration, login, replay and tampering, single-use challenges,
another user's key, removal, the first key turning 2FA on, admin reset, nothing secret stored."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from datetime import timedelta
from pathlib import Path
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from rivetr_core.db.engine import utcnow
from tests.support import at_rest
from tests.support.server import ApiClient
from tests.test_accounts import PASSWORD, cookie_of
from tests.test_two_factor import Account, code_at, db_rows, logged_in_alice, password_step, second_step

#: What the Quart test client sends as Host (a browser's origin is its scheme://host[:port]).
ORIGIN = "http://localhost"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SoftAuthenticator:
    """A WebAuthn authenticator in software: one credential, user present and verified, a counter that rises."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(16)
        self.counter = 0

    def _cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps(
            {1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}
        )

    def _auth_data(self, rp_id: str, flags: int, attested: bytes = b"") -> bytes:
        self.counter += 1
        return (
            hashlib.sha256(rp_id.encode()).digest()
            + bytes([flags])
            + struct.pack(">I", self.counter)
            + attested
        )

    @staticmethod
    def _client_data(kind: str, challenge: str, origin: str) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False}
        ).encode()

    def create(self, options: dict[str, Any], origin: str = ORIGIN) -> dict[str, Any]:
        """The answer of navigator.credentials.create(options), in its JSON form."""
        attested = (
            bytes(16) + struct.pack(">H", len(self.credential_id)) + self.credential_id + self._cose_key()
        )
        auth_data = self._auth_data(
            options["rp"]["id"], 0x45, attested
        )  # user present + verified + attested data
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(self._client_data("webauthn.create", options["challenge"], origin)),
                "attestationObject": b64url(attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def get(self, options: dict[str, Any], origin: str = ORIGIN) -> dict[str, Any]:
        """The answer of navigator.credentials.get(options), in its JSON form."""
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        auth_data = self._auth_data(options["rpId"], 0x05)
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
            },
            "clientExtensionResults": {},
        }


async def add_passkey(
    account: Account, key: SoftAuthenticator, name: str | None = "YubiKey"
) -> dict[str, Any]:
    status, options = await account.call("POST", "/api/auth/passkeys/register/options")
    assert status == 200, options
    status, body = await account.call(
        "POST", "/api/auth/passkeys", json={"credential": key.create(options), "name": name}
    )
    assert status == 201, body
    return body  # type: ignore[no-any-return]


async def login_options(api: ApiClient, challenge: str) -> tuple[int, Any]:
    return await api.post("/api/auth/login/2fa/passkey/options", auth=False, json={"challenge": challenge})


async def passkey_login(api: ApiClient, key: SoftAuthenticator, username: str = "alice") -> tuple[int, Any]:
    _, first = await password_step(api, username)
    status, options = await login_options(api, first["challenge"])
    assert status == 200, options
    return await second_step(api, first["challenge"], passkey=key.get(options))  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------ registration
async def test_first_passkey_turns_two_factor_on_with_recovery_codes_and_logs_in(api: ApiClient) -> None:
    alice = await logged_in_alice(api)
    key = SoftAuthenticator()
    status, options = await alice.call("POST", "/api/auth/passkeys/register/options")
    assert status == 200
    assert options["rp"] == {"id": "localhost", "name": "Rivetr"} and options["user"]["name"] == "alice"
    assert options["authenticatorSelection"]["residentKey"] == "preferred"
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    assert options["excludeCredentials"] == []
    status, body = await alice.call(
        "POST", "/api/auth/passkeys", json={"credential": key.create(options), "name": "YubiKey"}
    )
    assert status == 201, body
    assert body["passkey"]["name"] == "YubiKey" and body["passkey"]["last_used_at"] is None
    codes = body["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert (await api.ctx.services["accounts"].get_user_by_name("alice")).two_factor_enabled is True
    assert (await alice.call("GET", "/api/auth/2fa"))[1] == {
        "enabled": False,  # the authenticator app
        "pending": False,
        "recovery_codes_left": 10,
        "passkeys": 1,
    }

    # A second key: no new codes; the first is excluded from the next ceremony.
    other = SoftAuthenticator()
    second = await add_passkey(alice, other, name=None)
    assert second["recovery_codes"] is None and second["passkey"]["name"] == "Passkey"
    both = {b64url(key.credential_id), b64url(other.credential_id)}
    _, options = await alice.call("POST", "/api/auth/passkeys/register/options")
    assert {c["id"] for c in options["excludeCredentials"]} == both

    await alice.call("POST", "/api/auth/logout")
    status, first = await password_step(api)
    assert first["two_factor_required"] is True and first["methods"] == ["passkey", "recovery_code"]
    assert cookie_of(api) is None
    status, options = await login_options(api, first["challenge"])
    assert status == 200 and options["rpId"] == "localhost"
    assert {c["id"] for c in options["allowCredentials"]} == both
    status, done = await second_step(api, first["challenge"], passkey=key.get(options))  # type: ignore[arg-type]
    assert status == 200, done
    assert done["user"]["username"] == "alice" and cookie_of(api) is not None
    headers = {"X-CSRF-Token": done["csrf_token"]}
    _, page = await api.get("/api/auth/passkeys", auth=False, headers=headers)
    used = next(p for p in page["items"] if p["name"] == "YubiKey")
    assert used["last_used_at"] is not None and page["next"] is None
    assert db_rows(
        api, "SELECT sign_count FROM passkeys WHERE credential_id = ?", b64url(key.credential_id)
    ) == [(key.counter,)]
    entries = db_rows(api, "SELECT action, actor, status FROM audit_log WHERE action LIKE 'auth.login%'")
    assert ("auth.login.passkey", "user:alice", 200) in entries


async def test_a_registration_needs_the_servers_challenge_and_origin(api: ApiClient) -> None:
    alice = await logged_in_alice(api)
    key = SoftAuthenticator()
    _, options = await alice.call("POST", "/api/auth/passkeys/register/options")
    forged = {**options, "challenge": b64url(os.urandom(32))}  # a challenge the server never issued
    status, body = await alice.call("POST", "/api/auth/passkeys", json={"credential": key.create(forged)})
    assert status == 422 and body["error"]["code"] == "invalid_passkey"
    status, body = await alice.call(
        "POST", "/api/auth/passkeys", json={"credential": key.create(options, "http://evil.example")}
    )
    assert status == 422 and body["error"]["code"] == "invalid_passkey"
    # The challenge was spent by the refused attempt: it works once, right or wrong.
    status, body = await alice.call("POST", "/api/auth/passkeys", json={"credential": key.create(options)})
    assert status == 422 and "already used" in body["error"]["message"]
    assert db_rows(api, "SELECT count(*) FROM passkeys") == [(0,)]
    status, body = await api.post("/api/auth/passkeys/register/options")  # the admin token has no user
    assert status == 403


async def test_an_expired_registration_challenge_is_refused(api: ApiClient) -> None:
    alice = await logged_in_alice(api)
    _, options = await alice.call("POST", "/api/auth/passkeys/register/options")
    past = (utcnow() - timedelta(seconds=1)).replace(tzinfo=None)  # its five minutes are over
    assert at_rest.execute(api.ctx, "UPDATE passkey_challenges SET expires_at = ?", past) == 1
    status, body = await alice.call(
        "POST", "/api/auth/passkeys", json={"credential": SoftAuthenticator().create(options)}
    )
    assert status == 422 and body["error"]["code"] == "invalid_passkey"
    assert db_rows(api, "SELECT count(*) FROM passkeys") == [(0,)]


# ------------------------------------------------------------------------------------------------ login
async def test_a_replayed_or_modified_assertion_is_refused(api: ApiClient) -> None:
    alice = await logged_in_alice(api)
    key = SoftAuthenticator()
    await add_passkey(alice, key)
    await alice.call("POST", "/api/auth/logout")

    _, first = await password_step(api)
    _, options = await login_options(api, first["challenge"])
    assertion = key.get(options)
    tampered = json.loads(json.dumps(assertion))
    auth_data = bytearray(unb64url(tampered["response"]["authenticatorData"]))
    auth_data[-1] ^= 1  # another counter than the one signed
    tampered["response"]["authenticatorData"] = b64url(bytes(auth_data))
    status, body = await second_step(api, first["challenge"], passkey=tampered)  # type: ignore[arg-type]
    assert status == 401 and body["error"]["code"] == "invalid_code"
    assert body["error"]["details"] == {"attempts_left": 4}  # counts toward the kill like a wrong code
    # The untouched assertion signed the challenge the tampered attempt used up: refused too.
    status, body = await second_step(api, first["challenge"], passkey=assertion)  # type: ignore[arg-type]
    assert status == 401 and body["error"]["code"] == "invalid_code"

    _, options = await login_options(api, first["challenge"])
    good = key.get(options)
    assert (await second_step(api, first["challenge"], passkey=good))[0] == 200  # type: ignore[arg-type]
    # Replayed into a new login: its challenge is not this login's.
    _, second = await password_step(api)
    status, body = await second_step(api, second["challenge"], passkey=good)  # type: ignore[arg-type]
    assert status == 401 and body["error"]["code"] == "invalid_code"


async def test_a_login_challenge_is_used_once_and_the_counter_must_rise(api: ApiClient) -> None:
    alice = await logged_in_alice(api)
    key = SoftAuthenticator()
    await add_passkey(alice, key)
    _, first = await password_step(api)
    _, options = await login_options(api, first["challenge"])
    assertion = key.get(options)
    assert (await second_step(api, first["challenge"], passkey=assertion))[0] == 200  # type: ignore[arg-type]
    status, body = await second_step(api, first["challenge"], passkey=assertion)  # type: ignore[arg-type]
    assert status == 401 and body["error"]["code"] == "invalid_challenge"  # the login is spent

    # A cloned key (its counter behind the stored one) is refused even with a fresh challenge.
    _, again = await password_step(api)
    _, options = await login_options(api, again["challenge"])
    key.counter = 0
    status, body = await second_step(api, again["challenge"], passkey=key.get(options))  # type: ignore[arg-type]
    assert status == 401 and body["error"]["code"] == "invalid_code"


async def test_another_users_passkey_is_refused(api: ApiClient) -> None:
    alice = await logged_in_alice(api)
    alice_key = SoftAuthenticator()
    await add_passkey(alice, alice_key)
    await api.ctx.services.accounts.create_user("bob", PASSWORD, role="member")
    _, bob_login = await api.post(
        "/api/auth/login", auth=False, json={"username": "bob", "password": PASSWORD}
    )
    bob = Account(api, bob_login["csrf_token"])
    bob_key = SoftAuthenticator()
    await add_passkey(bob, bob_key)
    # bob's own key, signing alice's login challenge: not one of alice's keys.
    _, first = await password_step(api, "alice")
    _, options = await login_options(api, first["challenge"])
    assert [c["id"] for c in options["allowCredentials"]] == [b64url(alice_key.credential_id)]
    status, body = await second_step(api, first["challenge"], passkey=bob_key.get(options))  # type: ignore[arg-type]
    assert status == 401 and body["error"]["code"] == "invalid_code"
    # And alice cannot rename or remove bob's.
    _, listing = await bob.call("GET", "/api/auth/passkeys")
    bob_passkey = listing["items"][0]["id"]
    _, done = await passkey_login(api, alice_key)
    alice = Account(api, done["csrf_token"])
    status, _ = await alice.call("PUT", f"/api/auth/passkeys/{bob_passkey}", json={"name": "mine"})
    assert status == 404


async def test_options_of_a_user_without_passkeys_or_an_unknown_login(api: ApiClient) -> None:
    alice = await logged_in_alice(api)
    secret, _codes = await alice.enrol()
    _, first = await password_step(api)
    assert first["methods"] == ["totp", "recovery_code"]
    status, body = await login_options(api, first["challenge"])
    assert status == 409 and body["error"]["code"] == "no_passkey"
    status, body = await login_options(api, "rvc_unknown")
    assert status == 401 and body["error"]["code"] == "invalid_challenge"
    # TOTP logins are unchanged, and a passkey added beside TOTP brings no new recovery codes.
    assert (await second_step(api, first["challenge"], code=code_at(secret, 1)))[0] == 200
    _, login = await api.post("/api/auth/login", auth=False, json={"username": "alice", "password": PASSWORD})
    assert login["methods"] == ["totp", "recovery_code"]


# ------------------------------------------------------------------------------------------------ management
async def test_rename_and_remove_which_needs_the_password_and_turns_2fa_off_at_the_last(
    api: ApiClient,
) -> None:
    alice = await logged_in_alice(api)
    key = SoftAuthenticator()
    passkey_id = (await add_passkey(alice, key))["passkey"]["id"]
    status, body = await alice.call("PUT", f"/api/auth/passkeys/{passkey_id}", json={"name": "Laptop"})
    assert status == 200 and body["name"] == "Laptop"

    status, body = await alice.call(
        "DELETE", f"/api/auth/passkeys/{passkey_id}", json={"password": "wrong one!"}
    )
    assert status == 422 and body["error"]["details"][0]["field"] == "password"
    status, body = await alice.call("DELETE", f"/api/auth/passkeys/{passkey_id}", json={})
    assert status == 422
    assert db_rows(api, "SELECT count(*) FROM passkeys") == [(1,)]
    status, _ = await alice.call("DELETE", f"/api/auth/passkeys/{passkey_id}", json={"password": PASSWORD})
    assert status == 204
    assert db_rows(api, "SELECT count(*) FROM passkeys") == [(0,)]
    assert db_rows(api, "SELECT count(*) FROM recovery_codes") == [(0,)]
    assert (await api.ctx.services["accounts"].get_user_by_name("alice")).two_factor_enabled is False
    status, body = await password_step(api)
    assert status == 200 and "two_factor_required" not in body  # the password alone again


async def test_disabling_totp_keeps_a_passkey_as_the_second_factor(api: ApiClient) -> None:
    alice = await logged_in_alice(api)
    _secret, codes = await alice.enrol()
    await add_passkey(alice, SoftAuthenticator())
    status, _ = await alice.call("DELETE", "/api/auth/2fa", json={"password": PASSWORD, "code": codes[0]})
    assert status == 204
    assert (await api.ctx.services["accounts"].get_user_by_name("alice")).two_factor_enabled is True
    _, first = await password_step(api)
    assert first["methods"] == ["passkey", "recovery_code"]


async def test_a_passkey_only_account_renews_its_recovery_codes_with_its_password(api: ApiClient) -> None:
    """No authenticator app, so no code to give: the password is the proof; with an app, a code is required."""
    alice = await logged_in_alice(api)
    first = (await add_passkey(alice, SoftAuthenticator()))["recovery_codes"]
    status, body = await alice.call(
        "POST", "/api/auth/2fa/recovery-codes", json={"password": "wrong password!"}
    )
    assert status == 422 and body["error"]["details"][0]["field"] == "password", body
    status, body = await alice.call("POST", "/api/auth/2fa/recovery-codes", json={"code": "123456"})
    assert status == 422 and body["error"]["code"] == "invalid_code", body
    status, body = await alice.call("POST", "/api/auth/2fa/recovery-codes", json={"password": PASSWORD})
    assert (
        status == 200 and len(body["recovery_codes"]) == 10 and not set(body["recovery_codes"]) & set(first)
    )
    status, body = await alice.call(
        "POST", "/api/auth/2fa/recovery-codes", json={"password": PASSWORD, "code": "123456"}
    )
    assert status == 422, body  # exactly one proof
    await alice.enrol()  # an authenticator app as well: now the password alone is not enough
    status, body = await alice.call("POST", "/api/auth/2fa/recovery-codes", json={"password": PASSWORD})
    assert status == 422 and body["error"]["details"][0]["field"] == "code", body


async def test_admin_reset_removes_the_passkeys(api: ApiClient) -> None:
    alice = await logged_in_alice(api)
    await add_passkey(alice, SoftAuthenticator())
    _, first = await password_step(api)
    await login_options(api, first["challenge"])
    assert db_rows(api, "SELECT count(*) FROM passkey_challenges") == [(1,)]
    status, _ = await api.delete("/api/users/alice/2fa")
    assert status == 204
    assert db_rows(api, "SELECT count(*) FROM passkeys") == [(0,)]
    assert db_rows(api, "SELECT count(*) FROM passkey_challenges") == [(0,)]
    status, body = await password_step(api)
    assert status == 200 and "two_factor_required" not in body


async def test_nothing_secret_is_stored(api: ApiClient) -> None:
    alice = await logged_in_alice(api)
    key = SoftAuthenticator()
    await add_passkey(alice, key)
    _, first = await password_step(api)
    _, options = await login_options(api, first["challenge"])
    ((credential_id, public_key),) = db_rows(api, "SELECT credential_id, public_key FROM passkeys")
    assert credential_id == b64url(key.credential_id)
    private = key.key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    numbers = key.key.public_key().public_numbers()
    assert numbers.x.to_bytes(32, "big") in unb64url(public_key)  # the public key, for checking signatures
    assert key.key.private_numbers().private_value.to_bytes(32, "big") not in unb64url(public_key)
    assert b64url(private) not in public_key
    # Challenges only as sha256: the one handed out is not in the table.
    stored = [h for (h,) in db_rows(api, "SELECT challenge_hash FROM passkey_challenges")]
    assert stored == [hashlib.sha256(options["challenge"].encode()).hexdigest()]
    assert options["challenge"] not in stored


async def test_openapi_documents_the_passkey_routes(api: ApiClient) -> None:
    _, doc = await api.get("/openapi.json")
    paths = doc["paths"]
    assert {"get"} <= set(paths["/api/auth/passkeys"])
    assert (
        "put" in paths["/api/auth/passkeys/{passkey_id}"]
        and "delete" in paths["/api/auth/passkeys/{passkey_id}"]
    )
    assert "post" in paths["/api/auth/login/2fa/passkey/options"]
    second = paths["/api/auth/login/2fa"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    if "$ref" in second:
        second = doc["components"]["schemas"][second["$ref"].rsplit("/", 1)[1]]
    assert "passkey" in second["properties"] and {"required": ["passkey"]} in second["oneOf"]


# ------------------------------------------------------------------------------------------------ CLI
def test_passkeys_from_the_cli(tmp_path: Path) -> None:
    """``rivetr account passkeys`` as carol (her API token) against the API served on a loopback socket."""
    import httpx
    from click.testing import CliRunner

    from rivetr_core.cli.main import cli
    from tests.support.cli import api_in_thread

    tokens: dict[str, str] = {}

    async def seed(accounts: Any) -> None:
        user = await accounts.create_user("carol", PASSWORD)
        tokens["carol"] = (await accounts.create_token("cli", user=user, created_by="user:carol"))[1]

    with api_in_thread(tmp_path / "data", seed) as (url, _app):
        env = {"RIVETR_URL": url, "RIVETR_TOKEN": tokens["carol"], "RIVETR_PASSWORD": PASSWORD}

        def run(*args: str, **extra: str) -> Any:
            return CliRunner().invoke(cli, ["account", "passkeys", *args], env={**env, **extra})

        added = run("add")
        assert (
            added.exit_code == 0 and f"{url}/profile#passkeys" in added.stdout
        )  # registration needs a browser
        assert json.loads(run("list", "--json").stdout) == []

        # Registered through the API with her token (what the profile page does with a session).
        key = SoftAuthenticator()
        auth = {"Authorization": f"Bearer {tokens['carol']}"}
        options = httpx.post(f"{url}/api/auth/passkeys/register/options", headers=auth).json()
        response = httpx.post(
            f"{url}/api/auth/passkeys", headers=auth, json={"credential": key.create(options, origin=url)}
        )
        assert response.status_code == 201, response.text
        passkey_id = response.json()["passkey"]["id"]

        status = CliRunner().invoke(cli, ["account", "2fa", "status"], env=env)
        assert status.exit_code == 0 and "passkeys" in status.stdout and "10" in status.stdout
        listed = run("list")
        assert listed.exit_code == 0 and passkey_id in listed.stdout and "never" in listed.stdout
        renamed = run("rename", passkey_id, "Desk key")
        assert renamed.exit_code == 0 and "Desk key" in renamed.stdout
        assert json.loads(run("list", "--json").stdout)[0]["name"] == "Desk key"

        refused = run("remove", passkey_id, RIVETR_PASSWORD="not her password")
        assert refused.exit_code != 0 and "password" in refused.output
        removed = run("remove", passkey_id)
        assert removed.exit_code == 0, removed.output
        assert json.loads(run("list", "--json").stdout) == []
