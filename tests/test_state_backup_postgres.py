"""Rivetr's state backup on a PostgreSQL install (rivetr_core/backup/state_postgres.py), through the CLI against a
real private PostgreSQL cluster: the archive (its usual format, a SQLite ``rivetr.db`` inside) holds the
database's rows; restoring it puts them back into PostgreSQL (the replaced rows saved aside), and the same
archive restores into a plain SQLite data dir too. A restore is refused while a control plane is alive."""

from __future__ import annotations

import json
import sqlite3
import tarfile
from pathlib import Path

import pytest

from rivetr_core.backup.state import list_backups
from tests.support.postgres import PostgresServer
from tests.support.server import ApiClient, make_config
from tests.test_state_backup import rivetr

pytestmark = pytest.mark.fresh_schema


async def _install_with_apps(url: str, data_dir: Path, *names: str) -> None:
    """A PostgreSQL install that ran once: migrated, with ``names`` created through the API."""
    from rivetr_core.app import create_app

    app = create_app(make_config(data_dir, database={"url": url}))
    async with app.test_app():
        client = ApiClient(app)
        for name in names:
            code, body = await client.post(
                "/api/apps",
                json={"name": name, "git_url": "https://git.example.com/acme/web.git", "port": 8000},
            )
            assert code == 201, body


async def test_state_backup_of_a_postgres_install_restores_on_postgres_and_on_sqlite(
    postgres_server: PostgresServer, tmp_path: Path
):
    name = postgres_server.create_database()
    url = f"postgresql://postgres@127.0.0.1:{postgres_server.port}/{name}"
    data = tmp_path / "data"
    await _install_with_apps(url, data, "web", "api")
    env = {"RIVETR_DATABASE__URL": url, "RIVETR_SERVER__DATA_DIR": str(data)}

    created = rivetr("backup", "create", "--to", str(tmp_path / "backups"), env=env)
    assert created.returncode == 0, created.stderr
    [archive] = list_backups(tmp_path / "backups")
    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        tar.extract("rivetr.db", tmp_path / "unpacked")
    assert manifest["database"] == "postgresql" and "rivetr.db" in manifest["files"]
    with sqlite3.connect(tmp_path / "unpacked" / "rivetr.db") as conn:
        assert sorted(r[0] for r in conn.execute("SELECT name FROM apps")) == ["api", "web"]

    # Changes after the backup: one app gone, one added.
    postgres_server.sql("DELETE FROM apps WHERE name = 'api'", name)
    await _install_with_apps(url, data, "late")
    assert sorted(postgres_server.sql("SELECT name FROM apps", name).split()) == ["late", "web"]

    restored = rivetr("backup", "restore", str(archive), env=env)
    assert restored.returncode == 0, restored.stderr
    assert "database (postgresql)" in restored.stdout
    assert sorted(postgres_server.sql("SELECT name FROM apps", name).split()) == ["api", "web"]
    [previous] = data.glob(".pre-restore-*")
    with sqlite3.connect(previous / "rivetr.db") as conn:  # what the restore replaced, kept
        assert sorted(r[0] for r in conn.execute("SELECT name FROM apps")) == ["late", "web"]
    assert not (data / "rivetr.db").exists()  # a PostgreSQL install's data dir gets no SQLite file

    # The same archive restores into a plain SQLite data dir.
    sqlite_dir = tmp_path / "sqlite-data"
    into_sqlite = rivetr("backup", "restore", str(archive), "--data-dir", str(sqlite_dir))
    assert into_sqlite.returncode == 0, into_sqlite.stderr
    with sqlite3.connect(sqlite_dir / "rivetr.db") as conn:
        assert sorted(r[0] for r in conn.execute("SELECT name FROM apps")) == ["api", "web"]


async def test_restore_into_postgres_is_refused_while_a_control_plane_runs(
    postgres_server: PostgresServer, tmp_path: Path
):
    name = postgres_server.create_database()
    url = f"postgresql://postgres@127.0.0.1:{postgres_server.port}/{name}"
    data = tmp_path / "data"
    await _install_with_apps(url, data, "web")
    env = {"RIVETR_DATABASE__URL": url, "RIVETR_SERVER__DATA_DIR": str(data)}
    created = rivetr("backup", "create", "--to", str(tmp_path / "backups"), env=env)
    assert created.returncode == 0, created.stderr
    [archive] = list_backups(tmp_path / "backups")
    postgres_server.sql("DELETE FROM apps", name)
    postgres_server.sql(
        "INSERT INTO control_planes (id, host, pid, version, started_at, heartbeat_at)"
        " VALUES ('p1', 'db-host-2', 4242, '0.1.0', now(), now())",
        name,
    )  # a rivetr serve elsewhere, its lease current

    refused = rivetr("backup", "restore", str(archive), env=env)
    assert refused.returncode == 1
    assert "Rivetr is running on this database (db-host-2 pid 4242)" in refused.stderr
    assert postgres_server.sql("SELECT count(*) FROM apps", name).strip() == "0"  # nothing restored
