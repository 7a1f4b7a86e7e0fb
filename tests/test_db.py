"""Database: migrations at start-up, WAL and foreign keys on, integrity check, secrets at rest."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from rivetr_core.db import Database, DatabaseCorrupt
from rivetr_core.secrets import SecretBox, SecretError

# These tests are about migrating an empty database: none starts from the test run's migrated template.
pytestmark = pytest.mark.fresh_schema


async def test_migrations_create_tables_and_are_idempotent(tmp_path: Path) -> None:
    db = Database.for_data_dir(tmp_path)
    await db.startup()
    await db.startup()  # a second start must not fail or duplicate anything
    async with db.engine.connect() as conn:
        tables = {r[0] for r in await conn.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))}
        heads = {r[0] for r in await conn.execute(text("SELECT version_num FROM alembic_version"))}
    await db.close()
    assert {"meta", "proxy_routes", "alembic_version"} <= tables
    from rivetr_core.dbfile import SCHEMA_HEADS

    assert heads == set(SCHEMA_HEADS)  # every area's head is recorded


async def test_fresh_database_records_every_head(tmp_path: Path) -> None:
    from rivetr_core.dbfile import SCHEMA_HEADS

    db = Database.for_data_dir(tmp_path)
    assert await db.applied_revisions() == frozenset()
    await db.startup()
    recorded = await db.applied_revisions()
    await db.close()
    assert recorded == SCHEMA_HEADS, f"set SCHEMA_HEADS in rivetr_core/dbfile.py to {sorted(recorded)}"


def test_migrated_database_starts_without_alembic(tmp_path: Path) -> None:
    """The fast path: a database already at every head is not handed to Alembic (nor is it imported)."""
    import subprocess
    import sys

    code = (
        "import asyncio, sys; from pathlib import Path; from rivetr_core.db import Database\n"
        "async def main():\n"
        f"    db = Database.for_data_dir(Path({str(tmp_path)!r})); await db.startup(); await db.close()\n"
        "asyncio.run(main()); print('alembic' in sys.modules)"
    )
    first = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    again = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert (first.stdout.strip(), again.stdout.strip()) == ("True", "False")


def test_pending_migrations_run_in_a_child_process(tmp_path: Path) -> None:
    """rivetr serve migrates a new (or outdated) database in a child process, so the server itself then takes
    the fast path above and never loads Alembic; a database at every head needs no child."""
    from rivetr_core.dbfile import DB_FILE, SCHEMA_HEADS, recorded_heads
    from rivetr_core.server import start_pending_migrations

    assert recorded_heads(tmp_path / DB_FILE) == frozenset()
    child = start_pending_migrations(tmp_path)
    assert child is not None and child.wait(60) == 0
    assert recorded_heads(tmp_path / DB_FILE) == SCHEMA_HEADS
    assert start_pending_migrations(tmp_path) is None
    (tmp_path / "garbage.db").write_bytes(b"not a database at all" * 100)
    assert recorded_heads(tmp_path / "garbage.db") == frozenset()  # unreadable: migrate (and fail) as usual


async def test_wal_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    db = Database.for_data_dir(tmp_path)
    await db.startup()
    assert await db.journal_mode() == "wal"
    async with db.engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
        assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 5000
    await db.close()


async def test_corrupt_file_refuses_to_start(tmp_path: Path) -> None:
    (tmp_path / "rivetr.db").write_bytes(b"this is not a database" * 100)
    db = Database.for_data_dir(tmp_path)
    with pytest.raises(DatabaseCorrupt, match="not a usable SQLite file"):
        await db.startup()
    await db.close()
    assert (tmp_path / "rivetr.db").read_bytes().startswith(b"this is not")  # untouched


async def test_damaged_pages_fail_integrity_check(tmp_path: Path) -> None:
    path = tmp_path / "rivetr.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA page_size=4096")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        conn.execute("CREATE INDEX t_v ON t(v)")
        conn.executemany("INSERT INTO t (v) VALUES (?)", [(f"value-{i:06d}" * 4,) for i in range(3000)])
    raw = bytearray(path.read_bytes())
    # Scribble over the middle of the file (index and table pages), keeping the header valid.
    for offset in range(len(raw) // 2, len(raw) // 2 + 8192):
        raw[offset] = 0x5A
    path.write_bytes(bytes(raw))
    db = Database.for_data_dir(tmp_path)
    with pytest.raises(DatabaseCorrupt):
        await db.startup()
    await db.close()


def test_secret_box_round_trip_and_key_file(tmp_path: Path) -> None:
    box = SecretBox.from_config(None, tmp_path)
    key_file = tmp_path / "secret.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    sealed = box.encrypt("hunter2-password")
    assert "hunter2" not in sealed and sealed.startswith("v1:")
    assert box.encrypt("hunter2-password") != sealed  # fresh nonce each time
    assert SecretBox.from_config(None, tmp_path).decrypt(sealed) == "hunter2-password"  # same key reloaded
    other = SecretBox.from_config("A" * 43 + "=", tmp_path)
    with pytest.raises(SecretError, match="wrong encryption key"):
        other.decrypt(sealed)


def test_configured_key_must_be_32_bytes(tmp_path: Path) -> None:
    with pytest.raises(SecretError, match="32 bytes"):
        SecretBox.from_config("c2hvcnQ=", tmp_path)
    with pytest.raises(SecretError, match="base64"):
        SecretBox.from_config("not base64 !!", tmp_path)
