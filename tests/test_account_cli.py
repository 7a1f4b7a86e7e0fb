"""``rivetr account ...`` against the real API served by Hypercorn on a loopback socket (in a thread of the test
process): two-factor enrolment, recovery codes and disabling, password change, sessions. The CLI acts as alice
through her API token, as after ``rivetr login -u alice``."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from click.testing import CliRunner

from rivetr_core.cli.main import cli
from tests.support import at_rest
from tests.support.cli import api_in_thread
from tests.support.server import ADMIN_TOKEN

PASSWORD = "correct horse battery"


class Server:
    def __init__(self, url: str, app: Any) -> None:
        self.url = url
        self.app = app
        self.tokens: dict[str, str] = {"admin": ADMIN_TOKEN}

    @property
    def ctx(self) -> Any:
        return self.app.extensions["rivetr_ctx"]

    def totp_secret(self) -> str:
        """alice's current TOTP secret, unsealed from the database (what her phone scanned)."""
        ((sealed,),) = at_rest.query(self.ctx, "SELECT secret FROM user_totp")
        return str(self.ctx.secrets.decrypt(sealed))

    def run(self, user: str, *args: str, stdin: Any = None, env: dict[str, str] | None = None) -> Any:
        full_env = {"RIVETR_URL": self.url, "RIVETR_TOKEN": self.tokens[user], **(env or {})}
        return CliRunner().invoke(cli, list(args), env=full_env, input=stdin, catch_exceptions=False)


class LineOnDemand(io.BytesIO):
    """stdin whose next line is computed when the command reads it: the TOTP code exists only after the command
    asked the server for a secret."""

    def __init__(self, *lines: Callable[[], str]) -> None:
        super().__init__()
        self.lines = list(lines)

    def readline(self, size: int | None = -1) -> bytes:
        return (self.lines.pop(0)() + "\n").encode() if self.lines else b""

    def read(self, size: int | None = -1) -> bytes:
        return b"" if size == 0 else self.readline()

    read1 = read  # what the text wrapper click puts around stdin calls


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tokens: dict[str, str] = {}

    async def seed(accounts: Any) -> None:
        for name in ("alice", "bob"):
            user = await accounts.create_user(name, PASSWORD)
            _row, raw = await accounts.create_token("cli", user=user, created_by=f"user:{name}")
            tokens[name] = raw

    with api_in_thread(tmp_path_factory.mktemp("cli-account") / "data", seed) as (url, app):
        running = Server(url, app)
        running.tokens.update(tokens)
        yield running


def login(server: Server, user: str) -> Any:
    """A dashboard session of ``user`` (the password step through the API), as a browser would make."""
    import httpx

    response = httpx.post(
        f"{server.url}/api/auth/login",
        json={"username": user, "password": PASSWORD},
        headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"},
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_two_factor_from_the_cli(server: Server) -> None:
    off = server.run("alice", "account", "2fa", "status", "--json")
    assert off.exit_code == 0 and json.loads(off.stdout)["enabled"] is False

    def now() -> str:
        return pyotp.TOTP(server.totp_secret()).now()

    enabled = server.run("alice", "account", "2fa", "enable", stdin=LineOnDemand(now))
    assert enabled.exit_code == 0, enabled.output
    secret = server.totp_secret()
    assert f"secret={secret}" in enabled.output and "otpauth://totp/Rivetr:alice" in enabled.output
    assert "two-factor login is on" in enabled.output
    codes = [line.strip() for line in enabled.output.splitlines() if line.startswith("  ") and "-" in line]
    codes = [c for c in codes if len(c) == 11]
    assert len(codes) == 10

    status = server.run("alice", "account", "2fa", "status")
    assert "enabled" in status.output and "10" in status.output
    assert login(server, "alice")["two_factor_required"] is True  # the password alone is no longer enough

    again = server.run("alice", "account", "2fa", "enable", "--code", "000000")
    assert again.exit_code != 0 and "already enabled" in again.output and "409" in again.output

    later = pyotp.TOTP(secret).at(time.time() + 30)  # the next step: the enrolment's code cannot be replayed
    wrong = server.run("alice", "account", "2fa", "recovery-codes", "--code", "000000")
    assert wrong.exit_code != 0 and "code" in wrong.output and "422" in wrong.output
    fresh = server.run("alice", "account", "2fa", "recovery-codes", "--code", later)
    assert fresh.exit_code == 0 and "Recovery codes" in fresh.output
    assert not any(code in fresh.output for code in codes)

    bad_password = server.run(
        "alice", "account", "2fa", "disable", "--code", "000000", env={"RIVETR_PASSWORD": "nope nope nope"}
    )
    assert bad_password.exit_code != 0 and "password" in bad_password.output
    # A recovery code works where the app's code is asked for, and the password is prompted.
    fresh_code = next(line.strip() for line in fresh.output.splitlines() if line.startswith("  "))
    disabled = server.run("alice", "account", "2fa", "disable", "--code", fresh_code, stdin=PASSWORD + "\n")
    assert disabled.exit_code == 0 and "two-factor login is off" in disabled.output, disabled.output
    assert "csrf_token" in login(server, "alice")


def test_sessions_from_the_cli(server: Server) -> None:
    for _ in range(2):
        login(server, "bob")
    listed = server.run("bob", "account", "sessions", "list", "--json")
    rows = json.loads(listed.stdout)
    assert len(rows) == 2 and {r["username"] for r in rows} == {"bob"}
    assert {r["device"] for r in rows} == {"Firefox on Linux"}
    human = server.run("bob", "account", "sessions", "list")
    assert "Firefox on Linux" in human.output and "LAST USED" in human.output

    revoked = server.run("bob", "account", "sessions", "revoke", rows[0]["id"])
    assert revoked.exit_code == 0 and f"ended session {rows[0]['id']}" in revoked.output
    assert len(json.loads(server.run("bob", "account", "sessions", "list", "--json").stdout)) == 1
    missing = server.run("bob", "account", "sessions", "revoke", rows[0]["id"])
    assert missing.exit_code != 0 and "404" in missing.output

    all_out = server.run("bob", "account", "sessions", "revoke-all")
    assert all_out.exit_code == 0 and "ended 1 sessions" in all_out.output  # a token is no session: all end
    assert json.loads(server.run("bob", "account", "sessions", "list", "--json").stdout) == []


def test_password_change_from_the_cli(server: Server, tmp_path: Path) -> None:
    login(server, "bob")
    new = "a brand new password"
    changed = server.run("bob", "account", "password", stdin=f"{PASSWORD}\n{new}\n{new}\n")
    assert changed.exit_code == 0 and "password changed" in changed.output, changed.output
    assert (
        json.loads(server.run("bob", "account", "sessions", "list", "--json").stdout) == []
    )  # sessions ended
    wrong = server.run("bob", "account", "password", stdin=f"{PASSWORD}\nwhatever else\nwhatever else\n")
    assert wrong.exit_code != 0 and "current_password" in wrong.output, (changed.output, wrong.output)
    # Back, so the tests of this module do not depend on their order.
    assert server.run("bob", "account", "password", stdin=f"{new}\n{PASSWORD}\n{PASSWORD}\n").exit_code == 0


def test_a_server_admin_resets_someones_two_factor(server: Server) -> None:
    def now() -> str:
        return pyotp.TOTP(server.totp_secret()).now()

    enabled = server.run("bob", "account", "2fa", "enable", stdin=LineOnDemand(now))
    assert enabled.exit_code == 0, enabled.output
    missing = server.run("admin", "users", "reset-2fa", "nobody")
    assert missing.exit_code != 0 and "404" in missing.output
    reset = server.run("admin", "users", "reset-2fa", "bob")
    assert reset.exit_code == 0 and "two-factor login of bob is off" in reset.output
    assert json.loads(server.run("bob", "account", "2fa", "status", "--json").stdout)["enabled"] is False
    assert "csrf_token" in login(server, "bob")  # the password alone again
