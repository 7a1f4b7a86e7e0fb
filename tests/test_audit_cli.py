"""``rivetr audit`` against the real API (the served app of tests/test_teams_cli.py): entries newest first with
their team, ``--team`` narrowing them to one team (by name), ``--json`` for scripts."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_teams_cli import run, server  # noqa: F401  (the module's served API)


def test_audit_lists_entries_with_their_team_and_filters_one_team(server: str, tmp_path: Path) -> None:  # noqa: F811
    assert run(server, tmp_path, "teams", "create", "ledger").exit_code == 0
    assert run(server, tmp_path, "teams", "create", "other").exit_code == 0
    assert run(server, tmp_path, "teams", "rename", "ledger", "books").exit_code == 0
    assert run(server, tmp_path, "teams", "rename", "other", "others").exit_code == 0

    listed = run(server, tmp_path, "audit", "--team", "books", "--json")
    assert listed.exit_code == 0, listed.output
    entries = json.loads(listed.stdout)
    team_id = json.loads(run(server, tmp_path, "teams", "show", "books", "--json").stdout)["id"]
    assert [(e["action"], e["team_id"]) for e in entries] == [("teams_api.update_team", team_id)]

    shown = run(server, tmp_path, "audit", "--action", "teams_api.update_team")
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert "TEAM" in lines[0] and len(lines) == 3
    assert any("books" in line for line in lines[1:]) and any("others" in line for line in lines[1:])

    missing = run(server, tmp_path, "audit", "--team", "nope")
    assert missing.exit_code != 0 and "Team 'nope' not found" in missing.output, missing.output


def test_audit_filters_by_outcome_and_time_range(server: str, tmp_path: Path) -> None:  # noqa: F811
    assert run(server, tmp_path, "teams", "create", "outcomes").exit_code == 0
    assert run(server, tmp_path, "teams", "create", "outcomes").exit_code != 0  # taken: a 409, recorded

    def actions(*args: str) -> list[tuple[str, int]]:
        result = run(server, tmp_path, "audit", "--action", "teams_api.create_team", "--json", *args)
        assert result.exit_code == 0, result.output
        return [(e["action"], e["status"]) for e in json.loads(result.stdout)]

    failed = actions("--outcome", "failure")
    assert failed and all(status >= 400 for _, status in failed)
    assert all(status < 400 for _, status in actions("--outcome", "success"))
    assert actions("--until", "2000-01-01T00:00:00Z") == []
    assert actions("--since", "2000-01-01T00:00:00Z", "--until", "2999-01-01T00:00:00Z")
    bad = run(server, tmp_path, "audit", "--outcome", "maybe")
    assert bad.exit_code != 0 and "maybe" in bad.output
