"""What a test app stored, read behind the app's back, on SQLite or PostgreSQL (``RIVETR_TEST_DATABASE=postgres``).

Tests check what is at rest (a secret is encrypted, a password hashed) or age a row by hand. They used to open the
SQLite file; these helpers take the app's context (or its config), a real ``rivetr serve`` (``ServerProcess``) or
a data dir, and go to whichever database it uses (a server a test starts under the switch has a PostgreSQL database
of its own: tests/support/server.py):

* :func:`query` / :func:`execute`: one statement with ``?`` placeholders (SQLite's style; turned into ``$n`` for
  PostgreSQL), on a connection of their own, committed;
* :func:`stored_bytes`: everything the database holds, as bytes to search for a plaintext: the SQLite file and its
  WAL, or a ``pg_dump`` of the PostgreSQL database (the dump is the rows' text, which is what a plaintext secret would
  show up in).
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url


def _url_of(source: Any) -> str:
    """The database URL of an app context (``api.ctx``), a :class:`~rivetr_core.db.Database`, a config, a real
    server (tests/support/server.py ``ServerProcess``) or the data dir of an app or server a test started."""
    if isinstance(source, Path):
        from tests.support import postgres

        return postgres.known_url(source) or f"sqlite+aiosqlite:///{source / 'rivetr.db'}"
    if hasattr(source, "database_url") and hasattr(source, "data_dir"):
        return str(source.database_url or f"sqlite+aiosqlite:///{Path(source.data_dir) / 'rivetr.db'}")
    db = getattr(source, "db", source)
    if hasattr(db, "url") and isinstance(db.url, str):
        return str(db.url)
    config = getattr(source, "config", source)
    url = config.database.url
    if url is not None:
        return str(url.get_secret_value())
    return f"sqlite+aiosqlite:///{Path(config.server.data_dir) / 'rivetr.db'}"


def _sqlite_path(url: str) -> Path | None:
    return Path(make_url(url).database or "") if url.startswith("sqlite") else None


def _postgres(url: str, sql: str, args: tuple[Any, ...], *, fetch: bool) -> tuple[list[tuple[Any, ...]], int]:
    """One statement over a fresh asyncpg connection, in a thread of its own (the test's loop may be running)."""
    import asyncpg

    parsed = make_url(url)
    numbered = iter(range(1, len(args) + 1))
    statement = re.sub(r"\?", lambda _: f"${next(numbered)}", sql)
    result: list[tuple[Any, ...]] = []
    changed = [0]

    async def run() -> None:
        conn = await asyncpg.connect(
            host=parsed.host, port=parsed.port, user=parsed.username, password=parsed.password,
            database=parsed.database,
        )  # fmt: skip
        try:
            if fetch:
                result.extend(tuple(row) for row in await conn.fetch(statement, *args))
            else:
                status = await conn.execute(statement, *args)  # "UPDATE 1": the count is last
                changed[0] = int(status.rsplit(" ", 1)[-1]) if status[-1:].isdigit() else 0
        finally:
            await conn.close()

    from tests.support.postgres import run_apart

    run_apart(run)
    return result, changed[0]


def _sqlite_args(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Datetimes as the app's SQLite columns hold them (what sqlite3's deprecated default adapter wrote)."""
    return tuple(arg.isoformat(" ") if isinstance(arg, datetime) else arg for arg in args)


def query(source: Any, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """The rows of one SELECT (``?`` placeholders) on the database of ``source`` (``api.ctx``, a Database, a
    config)."""
    url = _url_of(source)
    path = _sqlite_path(url)
    if path is None:
        return _postgres(url, sql, args, fetch=True)[0]
    with sqlite3.connect(path, timeout=30) as conn:
        return [tuple(row) for row in conn.execute(sql, _sqlite_args(args)).fetchall()]


def execute(source: Any, sql: str, *args: Any) -> int:
    """One statement that changes rows (``?`` placeholders; a naive datetime for a timestamp column), committed;
    how many rows it changed."""
    url = _url_of(source)
    path = _sqlite_path(url)
    if path is None:
        return _postgres(url, sql, args, fetch=False)[1]
    with sqlite3.connect(path, timeout=30) as conn:
        return conn.execute(sql, _sqlite_args(args)).rowcount


def stored_bytes(source: Any) -> bytes:
    """Everything the database holds: the SQLite file and its WAL/journal, or a data dump of the PostgreSQL
    database (``pg_dump``, the server's own client)."""
    url = _url_of(source)
    path = _sqlite_path(url)
    if path is not None:
        return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))
    from tests.support import postgres

    binaries = postgres.bin_dir()
    assert binaries is not None, "PostgreSQL is in use but its binaries are not found"
    parsed = make_url(url)
    dump = subprocess.run(
        [str(binaries / "pg_dump"), "--data-only", "-h", str(parsed.host), "-p", str(parsed.port),
         "-U", str(parsed.username), str(parsed.database)],
        capture_output=True, check=True, timeout=120,
    )  # fmt: skip
    assert b"COPY " in dump.stdout, dump.stderr  # a dump of nothing would prove nothing
    return dump.stdout


def integrity(source: Any) -> str:
    """``"ok"`` when the database is sound after a test's abuse (``kill -9`` mid-write): SQLite's ``PRAGMA
    integrity_check`` answer, or on PostgreSQL every B-tree index of the schema verified against its table by
    ``amcheck`` (``bt_index_check``, part of the server; it raises on a damaged index)."""
    url = _url_of(source)
    if _sqlite_path(url) is not None:
        return str(query(source, "PRAGMA integrity_check")[0][0])
    execute(source, "CREATE EXTENSION IF NOT EXISTS amcheck")
    checked = query(
        source,
        "SELECT count(bt_index_check(c.oid)) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_am am ON am.oid = c.relam WHERE am.amname = 'btree' AND c.relnamespace = 'public'::regnamespace",
    )[0][0]
    return "ok" if checked else "no index checked"
