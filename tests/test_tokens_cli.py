"""``rivetr tokens ...`` and ``rivetr login --username`` (scope, second factor) against the real API served by
Hypercorn on a loopback socket (in a thread of the test process, like tests/test_teams_cli.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from rivetr_core.cli.main import cli
from tests.support.cli import api_in_thread
from tests.support.roles import PASSWORD
from tests.support.server import ADMIN_TOKEN, AUTH


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server with team ``web`` (alice: developer, carol: viewer) owning an image app ``site``."""

    async def seed(accounts: Any) -> None:
        for name in ("alice", "carol", "dora"):
            await accounts.create_user(name, PASSWORD, role="member")

    with api_in_thread(tmp_path_factory.mktemp("cli-tokens") / "data", seed) as (url, _app):
        with httpx.Client(base_url=url, headers=AUTH) as admin:
            team = admin.post("/api/teams", json={"name": "web"}).json()
            for name, role in (("alice", "developer"), ("carol", "viewer"), ("dora", "developer")):
                assert admin.post(
                    f"/api/teams/{team['id']}/members", json={"username": name, "role": role}
                ).is_success
            project = admin.post("/api/projects", json={"name": "shop", "team_id": team["id"]}).json()
            created = admin.post(
                "/api/apps",
                json={
                    "name": "site",
                    "project_id": project["id"],
                    "source": {"kind": "image", "image": "registry.example.com/web/site:1"},
                    "port": 8080,
                },
            )
            assert created.status_code == 201, created.text
        yield url


def run(server: str, tmp_path: Path, *args: str, token: str | None = None, **env: str) -> Any:
    environment = {"RIVETR_URL": server, "RIVETR_LOGIN_FILE": str(tmp_path / "login.json"), **env}
    if token is not None:
        environment["RIVETR_TOKEN"] = token
    return CliRunner().invoke(cli, list(args), env=environment, catch_exceptions=False)


def cli_login(
    server: str, tmp_path: Path, user: str, *options: str, password: str = PASSWORD, **env: str
) -> Any:
    """``rivetr login --url SERVER -u USER [OPTIONS]`` with the password in $RIVETR_PASSWORD."""
    return run(
        server, tmp_path, "login", "--url", server, "-u", user, *options, RIVETR_PASSWORD=password, **env
    )


def _saved_token(tmp_path: Path) -> str:
    return str(json.loads((tmp_path / "login.json").read_text())["token"])


def test_login_as_a_user_gets_a_token_of_the_chosen_scope(server: str, tmp_path: Path) -> None:
    out = cli_login(server, tmp_path, "alice", "--scope", "admin")
    assert out.exit_code == 0 and "logged in to" in out.output and "as alice" in out.output, out.output
    listed = run(server, tmp_path, "tokens", "list", "--json")
    assert listed.exit_code == 0, listed.output
    (mine,) = [t for t in json.loads(listed.stdout) if t["name"].startswith("rivetr-cli@")]
    assert mine["scopes"] == ["admin"] and mine["created_by"] == "user:alice"

    # Without --scope on a non-terminal: write, which cannot manage tokens.
    other = tmp_path / "other"
    other.mkdir()
    out = cli_login(server, other, "carol")
    assert out.exit_code == 0, out.output
    refused = run(server, other, "tokens", "list")
    assert refused.exit_code != 0 and "'account' permission" in refused.output and "403" in refused.output
    wrong = cli_login(server, other, "carol", "--scope", "read", password="nope")
    assert wrong.exit_code != 0 and "wrong user name or password" in wrong.output


def test_create_list_and_revoke_a_ci_token(server: str, tmp_path: Path) -> None:
    assert cli_login(server, tmp_path, "dora", "--scope", "admin").exit_code == 0
    created = run(
        server,
        tmp_path,
        "tokens",
        "create",
        "ci",
        "--scope",
        "deploy",
        "--app",
        "site",
        "--expires-days",
        "30",
    )
    assert created.exit_code == 0, created.output
    assert "created token ci" in created.output and "scopes deploy" in created.output
    assert "limited to team" in created.output and "app " in created.output
    value = created.output.strip().splitlines()[-1]
    assert value.startswith("rvt_pat_")
    with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {value}"}) as ci:
        site = next(a for a in ci.get("/api/apps").json()["items"] if a["name"] == "site")
        assert ci.put(f"/api/apps/{site['id']}", json={"port": 81}).status_code == 403  # deploy, not write

    table = run(server, tmp_path, "tokens", "list")
    assert table.exit_code == 0 and "ci" in table.output and "deploy" in table.output, table.output
    as_json = json.loads(run(server, tmp_path, "tokens", "list", "--json").stdout)
    ci_row = next(t for t in as_json if t["name"] == "ci")
    assert ci_row["app_ids"] == [site["id"]] and ci_row["expires_at"] is not None

    bad = run(server, tmp_path, "tokens", "create", "x", "--scope", "root")
    assert bad.exit_code == 2  # click refuses it before any request
    missing = run(server, tmp_path, "tokens", "create", "x", "--scope", "read", "--app", "ghost")
    assert missing.exit_code != 0 and "unknown app 'ghost'" in missing.output

    revoked = run(server, tmp_path, "tokens", "revoke", "ci")
    assert revoked.exit_code == 0 and "revoked token ci" in revoked.output
    with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {value}"}) as ci:
        assert ci.get("/api/apps").status_code == 401
    assert "ci" not in [
        t["name"] for t in json.loads(run(server, tmp_path, "tokens", "list", "--json").stdout)
    ]
    # Server admins see everyone's with --all; the admin token's own list holds only its tokens.
    everyone = run(server, tmp_path, "tokens", "list", "--all", "--json", token=ADMIN_TOKEN)
    assert {"alice", "dora"} <= {t["created_by"].split(":")[1] for t in json.loads(everyone.stdout)}


def test_login_with_a_second_factor(server: str, tmp_path: Path) -> None:
    """A user with two-factor login: --otp takes the code (here a recovery code: a TOTP code just used to confirm
    enrolment may not be used twice in its window); a wrong one is refused without a token."""
    import pyotp

    with httpx.Client(base_url=server) as browser:
        login = browser.post("/api/auth/login", json={"username": "carol", "password": PASSWORD}).json()
        headers = {"X-CSRF-Token": login["csrf_token"]}
        secret = browser.post("/api/auth/2fa/setup", headers=headers).json()["secret"]
        confirmed = browser.post(
            "/api/auth/2fa/confirm", headers=headers, json={"code": pyotp.TOTP(secret).now()}
        )
        assert confirmed.status_code == 200, confirmed.text
        recovery = confirmed.json()["recovery_codes"]

    wrong = cli_login(server, tmp_path, "carol", "--scope", "read", "--otp", "000000")
    assert wrong.exit_code != 0 and "wrong two-factor code" in wrong.output
    assert not (tmp_path / "login.json").exists()
    out = cli_login(server, tmp_path, "carol", "--scope", "read", RIVETR_OTP=recovery[0])
    assert out.exit_code == 0 and "as carol" in out.output, out.output
    with httpx.Client(
        base_url=server, headers={"Authorization": f"Bearer {_saved_token(tmp_path)}"}
    ) as cli_token:
        assert cli_token.get("/api/apps").status_code == 200
        assert cli_token.get("/api/tokens").status_code == 403  # read scope


def test_a_recovery_code_is_refused_on_the_command_line(server: str, tmp_path: Path) -> None:
    out = cli_login(server, tmp_path, "carol", "--otp", "abcd-efgh-ijkl")
    assert out.exit_code != 0 and "$RIVETR_OTP" in out.output and not (tmp_path / "login.json").exists()
