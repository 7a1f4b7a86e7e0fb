"""``rivetr users ...`` and ``rivetr invitations ...`` against the real API served by Hypercorn on a loopback socket
(the server of tests/test_teams_cli.py, seeded with the users alice and bob)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from tests import test_teams_cli
from tests.test_teams_api import PASSWORD
from tests.test_teams_cli import run

server = test_teams_cli.server  # the module's own Hypercorn server (pytest finds the fixture by this name)


def invite(server: str, tmp_path: Path, team: str, role: str, *options: str) -> Any:
    """``rivetr users invite --team TEAM --role ROLE [OPTIONS]``."""
    return run(server, tmp_path, "users", "invite", "--team", team, "--role", role, *options)


def test_users_are_listed_changed_disabled_and_deleted(server: str, tmp_path: Path) -> None:
    listed = run(server, tmp_path, "users", "list")
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.splitlines()[0].split()[:3] == ["USER", "SERVER", "ROLE"]
    assert "alice" in listed.output and "bob" in listed.output

    role = run(server, tmp_path, "users", "set-role", "bob", "member")
    assert role.exit_code == 0 and "bob is now a member without server role" in role.output, role.output
    shown = json.loads(run(server, tmp_path, "users", "show", "bob", "--json").stdout)
    assert (shown["username"], shown["server_role"], shown["disabled"]) == ("bob", None, False)
    bad = run(server, tmp_path, "users", "set-role", "bob", "god")
    assert bad.exit_code == 2  # click refuses it before any request

    disabled = run(server, tmp_path, "users", "disable", "bob")
    assert disabled.exit_code == 0 and "disabled bob" in disabled.output
    refused = httpx.post(f"{server}/api/auth/login", json={"username": "bob", "password": PASSWORD})
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "account_disabled"
    assert "disabled" in run(server, tmp_path, "users", "list").output
    enabled = run(server, tmp_path, "users", "enable", "bob")
    assert enabled.exit_code == 0 and "enabled bob" in enabled.output
    assert (
        httpx.post(f"{server}/api/auth/login", json={"username": "bob", "password": PASSWORD}).status_code
        == 200
    )
    ended = run(server, tmp_path, "users", "revoke-sessions", "bob")
    assert ended.exit_code == 0 and "ended 1 session(s) of bob" in ended.output, ended.output

    missing = run(server, tmp_path, "users", "show", "nobody")
    assert missing.exit_code == 2 and "not found" in missing.output and "404" in missing.output
    deleted = run(server, tmp_path, "users", "delete", "bob", "--yes")
    assert deleted.exit_code == 0 and "deleted user bob" in deleted.output
    names = [u["username"] for u in json.loads(run(server, tmp_path, "users", "list", "--json").stdout)]
    assert "bob" not in names and "alice" in names


def test_a_password_reset_link_is_printed_and_works(server: str, tmp_path: Path) -> None:
    made = run(server, tmp_path, "users", "reset-password", "alice")
    assert made.exit_code == 0, made.output
    url = made.output.strip().splitlines()[-1]
    token = url.rsplit("/reset/", 1)[1]
    assert url == f"{server}/reset/{token}" and token.startswith("rvt_rst_")
    listed = run(server, tmp_path, "invitations", "list")
    assert "password_reset" in listed.output and "alice" in listed.output and token not in listed.output
    new_password = "a-password-from-the-cli"
    assert httpx.post(f"{server}/api/auth/reset/{token}", json={"password": new_password}).status_code == 204
    assert (
        httpx.post(
            f"{server}/api/auth/login", json={"username": "alice", "password": new_password}
        ).status_code
        == 200
    )


def test_an_invitation_is_made_listed_accepted_and_revoked(server: str, tmp_path: Path) -> None:
    assert run(server, tmp_path, "teams", "create", "guests").exit_code == 0
    made = invite(server, tmp_path, "guests", "viewer", "--email", "v@example.com")
    assert made.exit_code == 0, made.output
    assert "invitation to team guests as viewer" in made.output
    token = made.output.strip().splitlines()[-1].rsplit("/invite/", 1)[1]
    accepted = httpx.post(
        f"{server}/api/invitations/{token}/accept", json={"username": "victor", "password": PASSWORD}
    )
    assert accepted.status_code == 201, accepted.text
    victor = json.loads(run(server, tmp_path, "users", "show", "victor", "--json").stdout)
    assert [(t["name"], t["role"]) for t in victor["teams"]] == [("guests", "viewer")]

    pending = json.loads(
        invite(server, tmp_path, "guests", "developer", "--username", "wendy", "--json").stdout
    )
    listed = json.loads(run(server, tmp_path, "invitations", "list", "--json").stdout)
    assert pending["id"] in [i["id"] for i in listed] and "token" not in listed[0]
    revoked = run(server, tmp_path, "invitations", "revoke", pending["id"])
    assert revoked.exit_code == 0 and f"revoked {pending['id']}" in revoked.output
    assert httpx.get(f"{server}/api/invitations/{pending['token']}").status_code == 404

    nobody = invite(server, tmp_path, "guests", "viewer")
    assert nobody.exit_code == 2 and "--email or --username" in nobody.output
    no_team = invite(server, tmp_path, "nope", "viewer", "--username", "x")
    assert no_team.exit_code == 2 and "Team 'nope' not found" in no_team.output, no_team.output
