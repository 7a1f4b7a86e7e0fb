"""``rivetr teams ...`` against the real API served by Hypercorn on a loopback socket (in a thread of the test
process, whose app the test seeds with users through the account service)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rivetr_core.cli.main import cli
from tests.support.cli import api_in_thread
from tests.support.server import ADMIN_TOKEN
from tests.test_teams_api import PASSWORD


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    async def seed(accounts: Any) -> None:
        for name in ("alice", "bob"):
            await accounts.create_user(name, PASSWORD)
        await accounts.create_user("carol", PASSWORD, role="member")  # no server role: sees her teams only

    with api_in_thread(tmp_path_factory.mktemp("cli-teams") / "data", seed) as (url, _app):
        yield url


def run(server: str, tmp_path: Path, *args: str) -> Any:
    env = {
        "RIVETR_URL": server,
        "RIVETR_TOKEN": ADMIN_TOKEN,
        "RIVETR_LOGIN_FILE": str(tmp_path / "login.json"),
    }
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_teams_lifecycle_from_the_cli(server: str, tmp_path: Path) -> None:
    created = run(server, tmp_path, "teams", "create", "web")
    assert created.exit_code == 0 and "created team web" in created.output, created.output
    again = run(server, tmp_path, "teams", "create", "web")
    assert again.exit_code != 0 and "already exists" in again.output and "409" in again.output

    listed = run(server, tmp_path, "teams", "list", "--json")
    assert [t["name"] for t in json.loads(listed.stdout)] == ["default", "web"]

    for user, role in (("alice", "owner"), ("bob", "viewer")):
        added = run(server, tmp_path, "teams", "add-member", "web", user, "--role", role)
        assert added.exit_code == 0 and f"added {user} to team web as {role}" in added.output, added.output
    bad_role = run(server, tmp_path, "teams", "add-member", "web", "bob", "--role", "god")
    assert bad_role.exit_code == 2  # click refuses it before any request

    demote = run(server, tmp_path, "teams", "set-role", "web", "alice", "--role", "admin")
    assert demote.exit_code != 0 and "no owner left" in demote.output
    promoted = run(server, tmp_path, "teams", "set-role", "web", "bob", "--role", "owner")
    assert promoted.exit_code == 0 and "bob is now owner of team web" in promoted.output
    removed = run(server, tmp_path, "teams", "remove-member", "web", "alice")
    assert removed.exit_code == 0, removed.output

    members = run(server, tmp_path, "teams", "members", "web")
    assert members.exit_code == 0 and "bob" in members.output and "alice" not in members.output

    renamed = run(server, tmp_path, "teams", "rename", "web", "frontend")
    assert renamed.exit_code == 0 and "renamed team web to frontend" in renamed.output
    shown = run(server, tmp_path, "teams", "show", "frontend", "--json")
    body = json.loads(shown.stdout)
    assert (body["name"], [(m["username"], m["role"]) for m in body["members"]]) == (
        "frontend",
        [("bob", "owner")],
    )
    missing = run(server, tmp_path, "teams", "show", "web")
    assert missing.exit_code != 0 and "no team matches 'web'" in missing.output

    default = run(server, tmp_path, "teams", "delete", "default", "--yes")
    assert default.exit_code != 0 and "default team cannot be deleted" in default.output
    deleted = run(server, tmp_path, "teams", "delete", "frontend", "--yes")
    assert deleted.exit_code == 0 and "deleted team frontend" in deleted.output
    assert [t["name"] for t in json.loads(run(server, tmp_path, "teams", "list", "--json").stdout)] == [
        "default"
    ]


def test_projects_are_created_in_and_moved_between_teams_from_the_cli(server: str, tmp_path: Path) -> None:
    assert run(server, tmp_path, "teams", "create", "data").exit_code == 0
    created = run(server, tmp_path, "projects", "create", "warehouse", "--team", "data")
    assert created.exit_code == 0 and "created project warehouse" in created.output, created.output
    plain = run(server, tmp_path, "projects", "create", "misc")
    assert plain.exit_code == 0 and "in team default" in plain.output, plain.output
    unknown = run(server, tmp_path, "projects", "create", "lost", "--team", "nope")
    assert unknown.exit_code != 0 and "Team 'nope' not found" in unknown.output, unknown.output

    listed = json.loads(run(server, tmp_path, "projects", "list", "--json").stdout)
    team_id = json.loads(run(server, tmp_path, "teams", "show", "data", "--json").stdout)["id"]
    assert {p["name"]: p["team_id"] for p in listed} == {"warehouse": team_id, "misc": "default"}
    table = run(server, tmp_path, "projects", "list")
    assert table.exit_code == 0 and "warehouse" in table.output and "data" in table.output, table.output

    refused = run(server, tmp_path, "teams", "delete", "data", "--yes")
    assert refused.exit_code != 0 and "warehouse" in refused.output
    moved = run(server, tmp_path, "projects", "move", "warehouse", "default")
    assert moved.exit_code == 0 and "moved project warehouse to team default" in moved.output, moved.output
    assert run(server, tmp_path, "teams", "delete", "data", "--yes").exit_code == 0

    renamed = run(server, tmp_path, "projects", "update", "misc", "--name", "odds", "--description", "bits")
    assert renamed.exit_code == 0 and "updated project odds" in renamed.output, renamed.output
    listed = json.loads(run(server, tmp_path, "projects", "list", "--json").stdout)
    assert {p["name"]: p["description"] for p in listed}["odds"] == "bits"
    nothing = run(server, tmp_path, "projects", "update", "odds")
    assert nothing.exit_code != 0 and "nothing to change" in nothing.output


def test_a_member_of_two_teams_picks_one_with_team_or_rivetr_team(server: str, tmp_path: Path) -> None:
    import httpx

    for team in ("red", "blue"):
        assert run(server, tmp_path, "teams", "create", team).exit_code == 0
        assert run(server, tmp_path, "projects", "create", f"{team}-proj", "--team", team).exit_code == 0
        added = run(server, tmp_path, "teams", "add-member", team, "carol", "--role", "developer")
        assert added.exit_code == 0, added.output
    with httpx.Client(base_url=server) as browser:  # carol's own token, made with her session
        login = browser.post("/api/auth/login", json={"username": "carol", "password": PASSWORD})
        assert login.status_code == 200, login.text
        made = browser.post(
            "/api/tokens",
            headers={"X-CSRF-Token": login.json()["csrf_token"]},
            json={"name": "laptop", "scopes": ["write"]},
        )
        assert made.status_code == 201, made.text
    env = {
        "RIVETR_URL": server,
        "RIVETR_TOKEN": made.json()["token"],
        "RIVETR_LOGIN_FILE": str(tmp_path / "login.json"),
    }

    def projects(*args: str, **extra_env: str) -> Any:
        result = CliRunner().invoke(cli, ["projects", "list", "--json", *args], env={**env, **extra_env})
        return result if result.exit_code else sorted(p["name"] for p in json.loads(result.stdout))

    assert projects() == ["red-proj"]  # no choice: the team she joined first
    assert projects("--team", "blue") == ["blue-proj"]
    assert projects(RIVETR_TEAM="blue") == ["blue-proj"]
    assert projects("--team", "red", RIVETR_TEAM="blue") == ["red-proj"]  # the flag wins
    outsider = projects("--team", "default")
    assert outsider.exit_code == 2 and "404" in outsider.output and "Team" in outsider.output, outsider.output
    # A command's own --team is the team it acts in too: she creates a project in blue.
    created = CliRunner().invoke(cli, ["projects", "create", "mine", "--team", "blue"], env=env)
    assert created.exit_code == 0, created.output
    assert projects("--team", "blue") == ["blue-proj", "mine"]


def test_members_show_their_two_factor_state_and_who_lacks_it_where_required(
    server: str, tmp_path: Path
) -> None:
    assert run(server, tmp_path, "teams", "create", "vault", "--require-2fa").exit_code == 0
    assert run(server, tmp_path, "teams", "add-member", "vault", "bob", "--role", "viewer").exit_code == 0
    shown = run(server, tmp_path, "teams", "show", "vault")
    assert shown.exit_code == 0 and "bob (viewer, no 2FA: no access)" in shown.output, shown.output
    listed = run(server, tmp_path, "teams", "members", "vault")
    row = next(line for line in listed.output.splitlines() if line.startswith("bob"))
    assert row.split()[:3] == ["bob", "viewer", "off"], listed.output
