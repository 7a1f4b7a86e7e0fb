"""``RIVETR_TEST_DATABASE=postgres`` reaches the real ``rivetr serve`` processes tests start (tests/support/server.py):
each gets a PostgreSQL database of its own, a copy of the migrated template, the same one again when a test restarts
it on its data dir; a test that needs the SQLite file opts out; tests/support/at_rest.py reads and writes either.

These tests turn the switch on themselves, so they prove it on the SQLite pass of CI too (skipped only where
PostgreSQL is not installed)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import at_rest, postgres
from tests.support.postgres import PostgresServer
from tests.support.server import ServerProcess


def _database(server: ServerProcess) -> dict[str, object]:
    with server.client(timeout=30) as api:
        response = api.get("/api/system/status")
    assert response.status_code == 200, response.text
    return dict(response.json()["database"])


def _instance_id(source: object) -> str:
    return str(at_rest.query(source, "SELECT value FROM meta WHERE key = 'instance_id'")[0][0])


def test_a_test_server_gets_a_postgres_database_of_its_own_kept_across_restarts(
    postgres_server: PostgresServer,
    rivetr_server: Callable[..., ServerProcess],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(postgres.SWITCH, "postgres")
    data_dir = tmp_path / "pg"
    first = rivetr_server(data_dir=data_dir)
    assert first.database_url is not None and first.database_url.startswith("postgresql+asyncpg://")
    assert _database(first)["backend"] == "postgresql"
    assert not list(data_dir.glob("rivetr.db*"))  # nothing went to a SQLite file
    instance = _instance_id(first)
    assert _instance_id(data_dir) == instance  # the data dir leads the helpers to the same database
    with first.client(timeout=30) as api:
        created = api.post("/api/routes", json={"domain": "kept.test", "upstreams": ["127.0.0.1:9"]})
        assert created.status_code == 201, created.text
    # Written behind the server's back, through the helper, and read back by the server.
    assert at_rest.execute(first, "UPDATE proxy_routes SET upstreams = ? WHERE domain = ?", '["127.0.0.1:10"]',
                           "kept.test") == 1  # fmt: skip
    first.stop()

    again = rivetr_server(data_dir=data_dir)  # restarted on its data dir: its data is there
    assert again.database_url == first.database_url
    with again.client(timeout=30) as api:
        routes = {r["domain"]: r for r in api.get("/api/routes").json()["items"]}
    assert [u["address"] for u in routes["kept.test"]["upstreams"]] == ["127.0.0.1:10"], routes
    assert _instance_id(again) == instance

    other = rivetr_server()  # another data dir: another database, migrated as well
    assert other.database_url not in (None, first.database_url)
    assert _instance_id(other) != instance
    assert "kept.test" not in {
        r["domain"] for r in other.client(timeout=30).get("/api/routes").json()["items"]
    }


def test_a_test_that_needs_the_sqlite_file_opts_out(
    postgres_server: PostgresServer,
    rivetr_server: Callable[..., ServerProcess],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(postgres.SWITCH, "postgres")
    server = rivetr_server({"RIVETR_DATABASE__URL": ""}, data_dir=tmp_path / "lite")
    assert server.database_url is None
    assert _database(server)["backend"] == "sqlite"
    assert (tmp_path / "lite" / "rivetr.db").exists()
    assert at_rest.integrity(server) == "ok"


def test_without_the_switch_a_test_server_stays_on_sqlite(
    rivetr_server: Callable[..., ServerProcess], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(postgres.SWITCH, raising=False)
    server = rivetr_server(data_dir=tmp_path / "plain")
    assert server.database_url is None
    assert _database(server)["backend"] == "sqlite"
    assert _instance_id(server) == _instance_id(tmp_path / "plain")
