"""Backups of Rivetr's own state through the CLI: consistent under write load, restore refuses a running server,
wrong passphrase and damaged archives fail cleanly (nothing half-restored), retention."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import pytest

from rivetr_core.backup.state import list_backups
from rivetr_core.dbfile import SCHEMA_HEADS

ROOT = Path(__file__).resolve().parents[1]
#: These servers keep the SQLite file whose backups this module is about, even under RIVETR_TEST_DATABASE=postgres
#: (tests/test_state_backup_postgres.py backs up a PostgreSQL database).
SQLITE = {"RIVETR_DATABASE__URL": ""}


def rivetr(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rivetr_core.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def make_data_dir(path: Path) -> Path:
    """A data dir as a server leaves it: a migrated database (a real server start), its key and token."""
    path.mkdir(parents=True, exist_ok=True)
    import asyncio

    from rivetr_core.db.engine import Database

    async def migrate() -> None:
        db = Database.for_data_dir(path)
        await db.startup()
        await db.engine.dispose()

    asyncio.run(migrate())
    (path / "secret.key").write_text("a-secret-key-value\n")
    (path / "admin.token").write_text("an-admin-token\n")
    (path / "certs").mkdir()
    (path / "certs" / "acme-ca-bundle.pem").write_text("-----BEGIN CERTIFICATE-----\nxx\n")
    return path


def tree_digest(path: Path) -> dict[str, str]:
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


def test_backup_under_write_load_restores_every_row_committed_before_it(tmp_path: Path) -> None:
    data = make_data_dir(tmp_path / "data")
    db_path = data / "rivetr.db"
    with sqlite3.connect(db_path) as conn:
        conn.execute("CREATE TABLE load (n INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
    committed = [0]
    stop = threading.Event()

    def writer() -> (
        None
    ):  # the server writing meanwhile: many small transactions, WAL mode as the server runs
        conn = sqlite3.connect(db_path, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        # Commits stay in the -wal file (as while a long reader holds checkpoints off): a copy of the database
        # file alone would miss them; the online backup API reads them.
        conn.execute("PRAGMA wal_autocheckpoint=0")
        n = 0
        while not stop.is_set():
            n += 1
            conn.execute("INSERT INTO load (n, payload) VALUES (?, ?)", (n, "x" * 2000))
            conn.commit()
            committed[0] = n
        conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while committed[0] < 2000:
            time.sleep(0.01)
        before = committed[0]
        result = rivetr("backup", "create", "--data-dir", str(data), "--to", str(tmp_path / "out"))
        during = committed[0]
    finally:
        stop.set()
        thread.join()
    assert result.returncode == 0, result.stderr
    assert during > before, "the writer must keep committing while the backup runs"
    (archive,) = list_backups(tmp_path / "out")
    sidecar = archive.with_name(archive.name + ".sha256").read_text().split()
    assert sidecar == [hashlib.sha256(archive.read_bytes()).hexdigest(), archive.name]
    assert sidecar[0] in result.stdout
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert {"manifest.json", "rivetr.db", "certs/acme-ca-bundle.pem"} <= names
    assert not any("secret" in n or "token" in n for n in names)  # no passphrase: no secrets at all

    restored = tmp_path / "restored"
    out = rivetr("backup", "restore", str(archive), "--data-dir", str(restored))
    assert out.returncode == 0, out.stderr
    with sqlite3.connect(restored / "rivetr.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        count, top = conn.execute("SELECT count(*), max(n) FROM load").fetchone()
        heads = {r[0] for r in conn.execute("SELECT version_num FROM alembic_version")}
    assert count >= before and count == top  # every row committed before the backup began, and no gaps
    assert heads == set(SCHEMA_HEADS)  # the schema the server runs, all of it
    assert (restored / "certs" / "acme-ca-bundle.pem").read_text().startswith("-----BEGIN")


def test_restore_refuses_a_running_servers_data_dir(tmp_path: Path, rivetr_server) -> None:
    source = make_data_dir(tmp_path / "source")
    made = rivetr("backup", "create", "--data-dir", str(source), "--to", str(tmp_path / "out"))
    assert made.returncode == 0, made.stderr
    (archive,) = list_backups(tmp_path / "out")
    server = rivetr_server(SQLITE)
    db_inode = (server.data_dir / "rivetr.db").stat().st_ino
    out = rivetr("backup", "restore", str(archive), "--data-dir", str(server.data_dir))
    assert out.returncode == 1
    assert "server is running" in out.stderr and "stop it" in out.stderr
    assert (server.data_dir / "rivetr.db").stat().st_ino == db_inode  # untouched
    assert not list(server.data_dir.glob(".pre-restore-*"))
    assert server.client().get("/health").status_code == 200


def test_restore_refuses_a_running_server_even_without_its_address_file(
    tmp_path: Path, rivetr_server
) -> None:
    """api.addr can lie (deleted, or naming a port nobody answers on); the server's lock on its data dir
    cannot, and the kernel drops it with the process, so a stopped server's data dir restores."""
    source = make_data_dir(tmp_path / "source")
    made = rivetr("backup", "create", "--data-dir", str(source), "--to", str(tmp_path / "out"))
    assert made.returncode == 0, made.stderr
    (archive,) = list_backups(tmp_path / "out")
    server = rivetr_server(SQLITE)
    (server.data_dir / "api.addr").unlink()
    out = rivetr("backup", "restore", str(archive), "--data-dir", str(server.data_dir))
    assert out.returncode == 1 and "server is running" in out.stderr, out.stderr
    assert server.client().get("/health").status_code == 200
    server.stop()
    out = rivetr("backup", "restore", str(archive), "--data-dir", str(server.data_dir))
    assert out.returncode == 0, out.stderr


def test_wrong_passphrase_is_a_clear_error_and_restores_nothing(tmp_path: Path) -> None:
    source = make_data_dir(tmp_path / "source")
    right, wrong = tmp_path / "right.txt", tmp_path / "wrong.txt"
    right.write_text("correct horse battery staple\n")
    wrong.write_text("incorrect horse\n")
    made = rivetr(
        "backup",
        "create",
        "--data-dir",
        str(source),
        "--to",
        str(tmp_path / "out"),
        "--passphrase-file",
        str(right),
    )
    assert made.returncode == 0, made.stderr
    (archive,) = list_backups(tmp_path / "out")
    with tarfile.open(archive) as tar:
        sealed = tar.extractfile("secrets/secret.key.enc").read()  # type: ignore[union-attr]
    assert b"a-secret-key-value" not in sealed

    target = make_data_dir(tmp_path / "target")
    (target / "secret.key").write_text("the target's own key\n")
    before = tree_digest(target)
    out = rivetr(
        "backup", "restore", str(archive), "--data-dir", str(target), "--passphrase-file", str(wrong)
    )
    assert out.returncode == 1 and "wrong passphrase" in out.stderr
    assert tree_digest(target) == before  # nothing half-restored
    assert [p.name for p in tmp_path.iterdir() if "restore-" in p.name] == []  # the staging dir is gone
    out = rivetr("backup", "restore", str(archive), "--data-dir", str(target))
    assert out.returncode == 1 and "--passphrase-file" in out.stderr
    assert tree_digest(target) == before

    out = rivetr(
        "backup", "restore", str(archive), "--data-dir", str(target), "--passphrase-file", str(right)
    )
    assert out.returncode == 0, out.stderr
    assert (target / "secret.key").read_text() == "a-secret-key-value\n"
    assert (target / "admin.token").read_text() == "an-admin-token\n"
    (previous,) = target.glob(".pre-restore-*")
    assert (previous / "secret.key").read_text() == "the target's own key\n"  # replaced files kept aside


def test_damaged_archive_is_refused_and_retention_keeps_the_newest(tmp_path: Path) -> None:
    source = make_data_dir(tmp_path / "source")
    out_dir = tmp_path / "out"
    for _ in range(3):
        made = rivetr("backup", "create", "--data-dir", str(source), "--to", str(out_dir), "--keep-last", "2")
        assert made.returncode == 0, made.stderr
    archives = list_backups(out_dir)
    assert len(archives) == 2 and len(list(out_dir.glob("*.sha256"))) == 2
    assert "removed old backup" in made.stdout

    damaged = archives[-1]
    raw = bytearray(damaged.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    damaged.write_bytes(bytes(raw))
    target = make_data_dir(tmp_path / "target")
    before = tree_digest(target)
    out = rivetr("backup", "restore", str(damaged), "--data-dir", str(target))
    assert out.returncode == 1 and "sha256" in out.stderr and "damaged" in out.stderr
    damaged.with_name(damaged.name + ".sha256").unlink()  # without the sidecar, the archive itself is checked
    out = rivetr("backup", "restore", str(damaged), "--data-dir", str(target))
    assert out.returncode == 1 and out.stderr.startswith("error:")
    assert tree_digest(target) == before
    fresh = tmp_path / "fresh"
    out = rivetr("backup", "restore", str(damaged), "--data-dir", str(fresh))
    assert out.returncode == 1 and not fresh.exists()  # a failed restore leaves no half-made data dir


@pytest.mark.parametrize("missing", ["nowhere"])
def test_backup_of_a_dir_without_a_database_is_a_clear_error(tmp_path: Path, missing: str) -> None:
    out = rivetr("backup", "create", "--data-dir", str(tmp_path / missing), "--to", str(tmp_path / "out"))
    assert out.returncode == 1 and "no Rivetr database" in out.stderr


def test_cli_lists_schedules_and_runs_the_state_backup_on_a_server(tmp_path: Path, rivetr_server) -> None:
    server = rivetr_server(SQLITE)
    env = {
        "RIVETR_URL": server.url,
        "RIVETR_TOKEN": server.token,
        "RIVETR_LOGIN_FILE": str(tmp_path / "l.json"),
    }
    listed = rivetr("schedules", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "rivetr-state-backup" in listed.stdout and "0 3 * * * (UTC)" in listed.stdout
    ran = rivetr("schedules", "run", "rivetr-state-backup", env=env)
    assert ran.returncode == 0, ran.stderr
    deadline = time.monotonic() + 30
    while not list_backups(server.data_dir / "backups"):
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.1)
    (archive,) = list_backups(server.data_dir / "backups")
    with tarfile.open(archive) as tar:
        assert "rivetr.db" in tar.getnames()
    missing = rivetr("schedules", "run", "nope", env=env)
    assert missing.returncode == 1 and "no schedule 'nope'" in missing.stderr
