"""Migration 0020_teams on a database the previous release made (schema at the 0019 heads, rows inserted with the
SQL that release ran), and on a fresh install whose first-run setup creates the first user."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from rivetr_core.db import Database
from rivetr_core.dbfile import DB_FILE

#: What ``alembic_version`` held in the release before teams (SCHEMA_HEADS of that release).
PREVIOUS_HEADS = ("0003_tls", "0004_accounts", "0011_webhook_digest", "0019_builds")
T = "2026-01-02 03:04:05.000000"


def _previous_release_rows(path: Path) -> None:
    """Users with a session and a token, two projects (one with an app and its deployment, one empty), an app
    without a project: the rows an install of the previous release holds, as its code inserted them."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA foreign_keys=ON")
    with conn:
        for uid, name in (("u1", "alice"), ("u2", "bob")):
            conn.execute(
                "INSERT INTO users (id, username, password_hash, role, created_at, updated_at) "
                "VALUES (?, ?, 'argon2-hash', 'admin', ?, ?)",
                (uid, name, T, T),
            )
        conn.execute(
            "INSERT INTO user_sessions (id, token_hash, user_id, created_at, expires_at, last_seen_at) "
            "VALUES ('s1', ?, 'u1', ?, ?, ?)",
            ("a" * 64, T, "2099-01-01 00:00:00.000000", T),
        )
        conn.execute(
            "INSERT INTO api_tokens (id, name, token_hash, prefix, user_id, created_by, created_at) "
            "VALUES ('t1', 'ci', ?, 'rvt_abc', 'u2', 'bob', ?)",
            ("b" * 64, T),
        )
        for pid, name in (("p1", "shop"), ("p2", "empty")):
            conn.execute(
                "INSERT INTO projects (id, name, description, created_at, updated_at) VALUES (?, ?, '', ?, ?)",
                (pid, name, T, T),
            )
        for aid, name, project in (("a1", "web", "p1"), ("a2", "loose", None)):
            conn.execute(
                "INSERT INTO apps (id, name, project_id, environment, git_url, branch, dockerfile, build_context,"
                " port, healthcheck_path, healthcheck_timeout, healthcheck_retries, healthcheck_interval,"
                " status, created_at, updated_at) VALUES (?, ?, ?, 'production', 'https://git.example/x.git',"
                " 'main', 'Dockerfile', '.', 8080, '/', 5, 3, 1, 'running', ?, ?)",
                (aid, name, project, T, T),
            )
        conn.execute(
            'INSERT INTO deployments (id, app_id, status, "trigger", log_tail, steps, created_at) '
            "VALUES ('d1', 'a1', 'running', 'manual', '[]', '[]', ?)",
            (T,),
        )
    conn.close()


def _rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


async def test_upgrade_from_previous_release_gives_everything_to_the_default_team(tmp_path: Path) -> None:
    db = Database.for_data_dir(tmp_path)
    for head in PREVIOUS_HEADS:
        await db.migrate(head)
    assert await db.applied_revisions() == frozenset(PREVIOUS_HEADS)
    path = tmp_path / DB_FILE
    _previous_release_rows(path)

    await db.startup()  # what the next start of the new release does
    await db.close()

    assert _rows(path, "SELECT id, name, require_2fa FROM teams") == [("default", "default", 0)]
    assert _rows(
        path, "SELECT user_id, role FROM team_members WHERE team_id = 'default' ORDER BY user_id"
    ) == [
        ("u1", "owner"),
        ("u2", "owner"),
    ]
    assert _rows(path, "SELECT id, is_server_owner, disabled FROM users ORDER BY id") == [
        ("u1", 1, 0),
        ("u2", 1, 0),
    ]
    assert _rows(path, "SELECT id, team_id FROM projects ORDER BY id") == [
        ("p1", "default"),
        ("p2", "default"),
    ]
    # Rebuilding tables to add columns must not cascade into (or be refused by) the rows that reference them.
    assert _rows(path, "SELECT id, project_id FROM apps ORDER BY id") == [("a1", "p1"), ("a2", None)]
    assert _rows(path, "SELECT id FROM deployments") == [("d1",)]
    assert _rows(path, "SELECT id, user_id FROM user_sessions") == [("s1", "u1")]
    assert _rows(path, "SELECT id, user_id FROM api_tokens") == [("t1", "u2")]
    # Tokens made before scopes keep every right their user has (0023_token_scopes); nobody has 2FA yet.
    assert _rows(path, "SELECT scopes, team_id, app_ids, project_ids FROM api_tokens") == [
        ("admin", None, None, None)
    ]
    assert _rows(path, "SELECT two_factor_enabled FROM users") == [(0,), (0,)]
    assert _rows(path, "PRAGMA foreign_key_check") == []


async def test_fresh_install_makes_the_first_user_owner_of_the_default_team(tmp_path: Path) -> None:
    from rivetr_core.app import create_app
    from tests.support import at_rest
    from tests.support.server import ApiClient, make_config

    config = make_config(tmp_path / "data")
    app = create_app(config)
    async with app.test_app():
        api = ApiClient(app)
        status, body = await api.post(
            "/api/auth/setup", json={"username": "root", "password": "a-long-password-1"}
        )
        assert status == 201, body
        status, second = await api.post(
            "/api/auth/setup", json={"username": "eve", "password": "a-long-password-1"}
        )
        assert status == 409, second
    # on whichever database the app used (RIVETR_TEST_DATABASE=postgres: not the data dir's file)
    assert at_rest.query(config, "SELECT id, name FROM teams") == [("default", "default")]
    members = "SELECT u.username, m.role FROM team_members m JOIN users u ON u.id = m.user_id"
    assert at_rest.query(config, members) == [("root", "owner")]
    assert at_rest.query(config, "SELECT username, is_server_owner FROM users") == [("root", 1)]
