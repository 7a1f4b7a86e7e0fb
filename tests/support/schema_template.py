"""A migrated database as a template: in-process apps start from a copy instead of running every migration.

Migrating an empty SQLite file through the whole Alembic chain takes ~0.6 s, and ~1,400 tests start an in-process
app on a new data directory: ~14 minutes of a CI run spent re-running the same migrations. The first fresh
database a test process starts is migrated for real (``Database.startup``, unchanged); its file is kept, and every
later fresh database of this process starts as a copy of it, then goes through the real ``startup`` (integrity
check, heads compared, nothing left to migrate).

What still migrates from scratch: every ``rivetr serve`` subprocess on SQLite (the end-to-end tests; on PostgreSQL
they start from a copy of the same template: tests/support/postgres.py), and the tests marked ``fresh_schema`` (the
database and migration tests), which this leaves alone.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_template: Path | None = None


async def _make_template(original: Any) -> Path:
    from rivetr_core.db import Database

    directory = Path(tempfile.mkdtemp(prefix="rivetr-schema-"))
    db = Database.for_data_dir(directory)
    await original(db)
    await db.close()  # the last connection closing checkpoints the WAL into the file
    assert db.sqlite_path is not None and not db.sqlite_path.with_name(db.sqlite_path.name + "-wal").exists()
    return db.sqlite_path


async def _from_postgres_template(db: Any, original: Any) -> None:
    """RIVETR_TEST_DATABASE=postgres: a test's new database is created as a copy of one migrated template
    database (PostgreSQL copies it at the file level), then goes through the real ``startup``."""
    from rivetr_core.db import Database
    from tests.support import postgres

    name = db.engine.url.database
    if name in postgres.pending:
        if postgres.template is None:  # shared with the ``rivetr serve`` processes tests start
            server = postgres.shared_server()
            template = server.new_name()
            await server.acreate_database(template)
            migrated = Database(server.url(template))
            await original(migrated)
            await migrated.close()  # CREATE DATABASE ... TEMPLATE needs it unused
            postgres.template = template
        await postgres.create_pending(name, template=postgres.template)
    await original(db)


@pytest.fixture(autouse=True)
def migrated_schema_template(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    from rivetr_core.db import Database
    from tests.support import postgres

    original = Database.startup
    monkeypatch.setattr(postgres, "created_at_startup", True)
    if request.node.get_closest_marker("fresh_schema") is not None:
        if postgres.enabled():

            async def created_empty(self: Database) -> None:
                await postgres.create_pending(self.engine.url.database)  # migrated for real
                await original(self)

            monkeypatch.setattr(Database, "startup", created_empty)
        yield
        return

    async def startup(self: Database) -> None:
        global _template
        if self.dialect == "postgresql":
            await _from_postgres_template(self, original)
            return
        path = self.sqlite_path
        if path is not None and not path.exists():
            if _template is None:
                _template = await _make_template(original)
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(_template, path)
        await original(self)

    monkeypatch.setattr(Database, "startup", startup)
    yield
