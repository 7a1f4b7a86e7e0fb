"""Two-factor login (TOTP + recovery codes) through the real app and database: enrolment, the login's second step,
code reuse, recovery codes, challenge expiry and kill, the rate limit, disabling, admin reset, encryption at rest."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

import pyotp

from rivetr_core.app import create_app
from rivetr_core.db.engine import utcnow
from tests.support import at_rest
from tests.support.server import ApiClient
from tests.test_accounts import PASSWORD, cookie_of, setup_admin


def code_at(secret: str, steps_from_now: int = 0) -> str:
    """The code of a time step near now: each test step uses a later one, as a real user waits for the next."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_from_now)


class Account:
    """A user's session (cookie in the client's jar + CSRF header) and helpers for their account calls."""

    def __init__(self, api: ApiClient, csrf: str) -> None:
        self.api = api
        self.headers = {"X-CSRF-Token": csrf}

    async def call(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        return await self.api.request(method, path, auth=False, headers=self.headers, **kw)

    async def enrol(self) -> tuple[str, list[str]]:
        status, body = await self.call("POST", "/api/auth/2fa/setup")
        assert status == 200, body
        secret = body["secret"]
        status, body = await self.call("POST", "/api/auth/2fa/confirm", json={"code": code_at(secret)})
        assert status == 200, body
        return secret, body["recovery_codes"]


async def logged_in_alice(api: ApiClient) -> Account:
    return Account(api, (await setup_admin(api))["csrf_token"])


async def enrolled_then_logged_out(api: ApiClient) -> str:
    """alice, enrolled in two-factor login and logged out again (her next login asks for a code): her secret."""
    alice = await logged_in_alice(api)
    secret, _codes = await alice.enrol()
    await alice.call("POST", "/api/auth/logout")
    return secret


async def password_step(api: ApiClient, username: str = "alice") -> tuple[int, Any]:
    return await api.post("/api/auth/login", auth=False, json={"username": username, "password": PASSWORD})


async def second_step(api: ApiClient, challenge: str, **factor: str) -> tuple[int, Any]:
    return await api.post("/api/auth/login/2fa", auth=False, json={"challenge": challenge, **factor})


def db_rows(api: ApiClient, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    return at_rest.query(api.ctx, sql, *args)


# ------------------------------------------------------------------------------------------------ enrolment
async def test_enrolment_gives_secret_uri_and_qr_and_confirm_enables(api: ApiClient) -> None:
    alice = await logged_in_alice(api)
    assert (await alice.call("GET", "/api/auth/2fa"))[1] == {
        "enabled": False,
        "pending": False,
        "recovery_codes_left": 0,
        "passkeys": 0,
    }
    status, body = await alice.call("POST", "/api/auth/2fa/setup")
    assert status == 200
    secret = body["secret"]
    assert body["otpauth_uri"] == pyotp.TOTP(secret).provisioning_uri(name="alice", issuer_name="Rivetr")
    assert body["qr_svg"].startswith("<svg") and 'xmlns="http://www.w3.org/2000/svg"' in body["qr_svg"]
    assert (await alice.call("GET", "/api/auth/2fa"))[1]["pending"] is True

    status, body = await alice.call("POST", "/api/auth/2fa/confirm", json={"code": "000000"})
    assert status == 422 and body["error"]["code"] == "invalid_code"
    assert body["error"]["details"][0]["field"] == "code"
    status, body = await alice.call("POST", "/api/auth/2fa/confirm", json={"code": code_at(secret)})
    assert status == 200
    codes = body["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10 and all(len(c.replace("-", "")) >= 10 for c in codes)
    assert (await alice.call("GET", "/api/auth/2fa"))[1] == {
        "enabled": True,
        "pending": False,
        "recovery_codes_left": 10,
        "passkeys": 0,
    }
    user = await api.ctx.services["accounts"].get_user_by_name("alice")
    assert user.two_factor_enabled is True
    # Enabled: a second setup would silently break the phone's secret.
    status, body = await alice.call("POST", "/api/auth/2fa/setup")
    assert status == 409 and body["error"]["code"] == "two_factor_enabled"


async def test_secret_is_encrypted_and_recovery_codes_hashed_in_the_database(api: ApiClient) -> None:
    alice = await logged_in_alice(api)
    secret, codes = await alice.enrol()
    ((stored,),) = db_rows(api, "SELECT secret FROM user_totp")
    assert secret not in stored and stored != secret
    assert api.ctx.secrets.decrypt(stored) == secret  # sealed with the server's key, not lost
    hashes = [h for (h,) in db_rows(api, "SELECT code_hash FROM recovery_codes")]
    assert len(hashes) == 10 and not any(c in h or c.replace("-", "") in h for c in codes for h in hashes)


async def test_account_routes_need_a_user(api: ApiClient) -> None:
    status, body = await api.get("/api/auth/2fa")  # the admin token: a server credential, no user
    assert status == 403 and "admin token" in body["error"]["message"]


# ------------------------------------------------------------------------------------------------ login
async def test_login_with_2fa_needs_the_code_and_then_opens_a_session(api: ApiClient) -> None:
    secret = await enrolled_then_logged_out(api)

    status, body = await password_step(api)
    assert status == 200 and body["two_factor_required"] is True
    assert set(body) == {"two_factor_required", "challenge", "expires_at", "methods"}
    assert body["methods"] == ["totp", "recovery_code"]
    assert cookie_of(api) is None  # no session on the password alone
    ((stored,),) = db_rows(api, "SELECT token_hash FROM login_challenges")
    assert body["challenge"] not in stored  # only its hash

    status, wrong = await second_step(api, body["challenge"], code="123456")
    assert status == 401 and wrong["error"]["code"] == "invalid_code"
    assert "4 attempts left" in wrong["error"]["message"] and wrong["error"]["details"] == {
        "attempts_left": 4
    }
    status, done = await second_step(api, body["challenge"], code=code_at(secret, 1))
    assert status == 200, done
    assert done["user"]["username"] == "alice" and done["csrf_token"]
    assert cookie_of(api) is not None
    assert (await api.get("/api/auth/status", auth=False))[1]["authenticated"] is True
    # The challenge is spent.
    status, again = await second_step(api, body["challenge"], code=code_at(secret, 1))
    assert status == 401 and again["error"]["code"] == "invalid_challenge"
    assert db_rows(api, "SELECT count(*) FROM login_challenges") == [(0,)]

    # The wrong password is still the same 401 as always (no hint that 2FA is on).
    status, body = await api.post(
        "/api/auth/login", auth=False, json={"username": "alice", "password": "wrong password"}
    )
    assert status == 401 and body["error"]["code"] == "invalid_credentials"


async def test_a_code_is_accepted_only_once(api: ApiClient) -> None:
    alice = await logged_in_alice(api)
    secret, _codes = await alice.enrol()  # confirm used the current step's code
    _, first = await password_step(api)
    status, body = await second_step(api, first["challenge"], code=code_at(secret))
    assert status == 401 and body["error"]["code"] == "invalid_code"  # the confirm's code, replayed
    assert (await second_step(api, first["challenge"], code=code_at(secret, 1)))[0] == 200
    _, second = await password_step(api)
    assert (await second_step(api, second["challenge"], code=code_at(secret, 1)))[0] == 401  # replayed login
    # An earlier step than the last one used is refused too, even inside the window.
    status, body = await second_step(api, second["challenge"], code=code_at(secret, -1))
    assert status == 401 and body["error"]["code"] == "invalid_code"


async def test_a_recovery_code_works_once(api: ApiClient) -> None:
    alice = await logged_in_alice(api)
    _secret, codes = await alice.enrol()
    _, first = await password_step(api)
    # Typed carelessly: upper case, spaces, no dash.
    sloppy = codes[0].replace("-", " ").upper()
    status, body = await second_step(api, first["challenge"], recovery_code=sloppy)
    assert status == 200, body
    _, second = await password_step(api)
    status, body = await second_step(api, second["challenge"], recovery_code=codes[0])
    assert status == 401 and body["error"]["code"] == "invalid_code"
    status, body = await second_step(api, second["challenge"], recovery_code=codes[1])
    assert status == 200
    status, body = await api.get("/api/auth/2fa", auth=False, headers={"X-CSRF-Token": body["csrf_token"]})
    assert body["recovery_codes_left"] == 8


async def test_the_second_step_wants_exactly_one_factor(api: ApiClient) -> None:
    for factors in ({}, {"code": "123456", "recovery_code": "abcde-fghij"}):
        status, body = await second_step(api, "rvc_whatever", **factors)
        assert status == 422 and "exactly one of code, recovery_code and passkey" in body["error"]["message"]


async def test_an_expired_challenge_is_refused(api: ApiClient) -> None:
    secret = await enrolled_then_logged_out(api)
    _, pending = await password_step(api)
    later = (utcnow() - timedelta(seconds=1)).replace(tzinfo=None)  # five minutes on: the expiry has passed
    assert at_rest.execute(api.ctx, "UPDATE login_challenges SET expires_at = ?", later) == 1
    status, body = await second_step(api, pending["challenge"], code=code_at(secret, 1))
    assert status == 401 and body["error"]["code"] == "invalid_challenge"
    assert cookie_of(api) is None and db_rows(api, "SELECT count(*) FROM user_sessions") == [(0,)]
    assert db_rows(api, "SELECT count(*) FROM login_challenges") == [(0,)]  # swept


async def test_five_wrong_codes_kill_the_challenge(api: ApiClient) -> None:
    secret = await enrolled_then_logged_out(api)
    _, pending = await password_step(api)
    for attempt in range(5):
        status, body = await second_step(api, pending["challenge"], code="000000")
        assert status == 401 and body["error"]["code"] == "invalid_code", attempt
    assert "log in again" in body["error"]["message"] and body["error"]["details"] == {"attempts_left": 0}
    # Even the right code is too late now.
    status, body = await second_step(api, pending["challenge"], code=code_at(secret, 1))
    assert status == 401 and body["error"]["code"] == "invalid_challenge"
    assert cookie_of(api) is None


async def test_the_login_rate_limit_counts_the_second_step(config_factory: Any) -> None:
    app = create_app(config_factory(rate_limit={"enabled": True, "login_per_minute": 3}))
    async with app.test_app():
        api = ApiClient(app)
        await setup_admin(api)  # one token of the bucket of 3
        statuses = [(await second_step(api, "rvc_guess", code="123456"))[0] for _ in range(3)]
        assert statuses == [401, 401, 429]


async def test_both_steps_are_audited_under_the_users_name(api: ApiClient) -> None:
    alice = await logged_in_alice(api)
    secret, _codes = await alice.enrol()
    _, pending = await password_step(api)
    await second_step(api, pending["challenge"], code="000000")
    await second_step(api, pending["challenge"], code=code_at(secret, 1))
    _, page = await api.get("/api/audit?action=auth.login")
    steps = [(e["actor"], e["action"], e["status"]) for e in reversed(page["items"])]
    assert steps == [
        ("user:alice", "auth.login.challenge", 200),
        ("user:alice", "auth.login.2fa", 401),
        ("user:alice", "auth.login.2fa", 200),
    ]
    assert not any(code_at(secret, 1) in str(e) for e in page["items"])


# ------------------------------------------------------------------------------------------------ manage
async def test_regenerate_recovery_codes_needs_a_current_code(api: ApiClient) -> None:
    alice = await logged_in_alice(api)
    secret, old = await alice.enrol()
    status, body = await alice.call("POST", "/api/auth/2fa/recovery-codes", json={"code": "000000"})
    assert status == 422 and body["error"]["code"] == "invalid_code"
    status, body = await alice.call("POST", "/api/auth/2fa/recovery-codes", json={"code": code_at(secret, 1)})
    assert status == 200 and len(body["recovery_codes"]) == 10 and not set(body["recovery_codes"]) & set(old)
    _, pending = await password_step(api)
    assert (await second_step(api, pending["challenge"], recovery_code=old[0]))[0] == 401


async def test_disable_needs_password_and_code(api: ApiClient) -> None:
    alice = await logged_in_alice(api)
    secret, _codes = await alice.enrol()
    status, body = await alice.call(
        "DELETE", "/api/auth/2fa", json={"password": "wrong password", "code": code_at(secret, 1)}
    )
    assert status == 422 and body["error"]["details"][0]["field"] == "password"
    status, body = await alice.call("DELETE", "/api/auth/2fa", json={"password": PASSWORD, "code": "000000"})
    assert status == 422 and body["error"]["code"] == "invalid_code"
    status, body = await alice.call("DELETE", "/api/auth/2fa", json={"password": PASSWORD})
    assert status == 422  # both are required
    assert (await alice.call("GET", "/api/auth/2fa"))[1]["enabled"] is True
    status, _ = await alice.call(
        "DELETE", "/api/auth/2fa", json={"password": PASSWORD, "code": code_at(secret, 1)}
    )
    assert status == 204
    assert (await alice.call("GET", "/api/auth/2fa"))[1]["enabled"] is False
    assert db_rows(api, "SELECT count(*) FROM user_totp UNION ALL SELECT count(*) FROM recovery_codes") == [
        (0,),
        (0,),
    ]
    status, body = await alice.call("DELETE", "/api/auth/2fa", json={"password": PASSWORD, "code": "000000"})
    assert status == 409 and body["error"]["code"] == "two_factor_disabled"
    status, body = await password_step(api)
    assert status == 200 and "csrf_token" in body  # the password alone again


async def test_admin_reset_removes_someones_2fa(api: ApiClient) -> None:
    alice = await logged_in_alice(api)
    await alice.enrol()
    assert (await api.delete("/api/users/nobody/2fa"))[0] == 404
    status, _ = await api.delete("/api/users/alice/2fa")  # the admin token: a server owner
    assert status == 204
    user = await api.ctx.services["accounts"].get_user_by_name("alice")
    assert user.two_factor_enabled is False
    status, body = await password_step(api)
    assert status == 200 and "csrf_token" in body


async def test_routes_are_documented_and_login_says_either_answer(api: ApiClient) -> None:
    _, spec = await api.get("/openapi.json")
    for path in ("/api/auth/2fa", "/api/auth/2fa/setup", "/api/auth/login/2fa", "/api/users/{user_id}/2fa"):
        assert path in spec["paths"], path
    answer = spec["paths"]["/api/auth/login"]["post"]["responses"]["200"]["content"]["application/json"]
    assert {ref["$ref"].rsplit("/", 1)[1] for ref in answer["schema"]["anyOf"]} == {
        "LoginOut",
        "TwoFactorChallengeOut",
    }


def test_two_factor_code_loads_with_its_first_use() -> None:
    """Idle memory: neither pyotp/segno nor the 2FA service and tables load at start-up or for a login of a user
    without 2FA; an admin's reset loads the service (not pyotp or segno, which only codes and QR codes need)."""
    from tests.support.lazy import modules_loaded

    feature = ["pyotp", "segno", "rivetr_core.accounts.two_factor", "rivetr_core.models.two_factor"]
    loaded = modules_loaded(
        feature,
        [
            ("POST", "/api/auth/setup", {"username": "alice", "password": PASSWORD}),
            ("POST", "/api/auth/login", {"username": "alice", "password": PASSWORD}),
            ("DELETE", "/api/users/alice/2fa", None),
        ],
    )
    assert loaded == {
        "idle": [],
        "POST /api/auth/setup": [],
        "POST /api/auth/login": [],
        "DELETE /api/users/alice/2fa": feature[2:],
    }, loaded


async def test_a_team_requiring_2fa_lets_its_member_act_once_enrolled(api: ApiClient) -> None:
    """The permission layer's rule (docs/two-factor.md#teams-that-require-it) with real enrolment: bob, a member of
    a team with require_2fa, may use his account routes but nothing of the team until he turns 2FA on."""
    await setup_admin(api)
    await api.ctx.services["accounts"].create_user("bob", PASSWORD, role="member")
    status, team = await api.post("/api/teams", json={"name": "secure", "require_2fa": True})
    assert status == 201, team
    status, _ = await api.post(
        f"/api/teams/{team['id']}/members", json={"username": "bob", "role": "developer"}
    )
    assert status == 201
    _, session = await password_step(api, "bob")
    bob = Account(api, session["csrf_token"])
    status, body = await bob.call("GET", "/api/projects")
    assert status == 403 and body["error"]["code"] == "two_factor_required"
    assert "/profile" in body["error"]["message"]

    await bob.enrol()  # account routes keep working meanwhile
    status, body = await bob.call("GET", "/api/projects")
    assert status == 200, body
    _, pending = await password_step(api, "bob")
    assert pending["two_factor_required"] is True


async def test_the_dashboard_login_asks_for_the_code_and_audits_both_steps(api: ApiClient) -> None:
    secret = await enrolled_then_logged_out(api)
    csrf = "c" * 43  # the login form's double-submit token (cookie + field)
    api.client.cookie_jar.clear()
    api.client.set_cookie("localhost", "rivetr_csrf", csrf)

    async def post(form: dict[str, str]) -> Any:
        return await api.client.post("/login", form={**form, "csrf_token": csrf})

    response = await post({"username": "alice", "password": PASSWORD})
    page = await response.get_data(as_text=True)
    assert response.status_code == 200 and "Two-factor login" in page and cookie_of(api) is None
    challenge = re.search(r'name="challenge" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    response = await post({"challenge": challenge, "code": "000000"})
    assert response.status_code == 401 and "4 attempts left" in await response.get_data(as_text=True)
    response = await post({"challenge": challenge, "code": code_at(secret, 1)})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert cookie_of(api) is not None
    _, entries = await api.get("/api/audit?action=auth.login")
    assert [(e["actor"], e["action"], e["status"]) for e in reversed(entries["items"])] == [
        ("user:alice", "auth.login.challenge", 200),
        ("user:alice", "auth.login.2fa", 401),
        ("user:alice", "auth.login.2fa", 302),
    ]
