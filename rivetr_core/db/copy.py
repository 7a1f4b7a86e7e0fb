"""``rivetr db copy``: move every row of one control-plane database into another (SQLite → PostgreSQL).

Both databases are first brought to the newest schema by the ordinary start-up (integrity check, migrations), so
the copy is table for table and column for column. Tables are read from the source as they are (reflected), in
dependency order (parents before the rows that reference them), inside one read transaction: a live SQLite
install is copied as one consistent snapshot (WAL readers never block its writers). The target must be new (no
schema yet) unless ``replace`` is given; the rows its migrations seed (the default team) are replaced by the
source's. Integer keys keep their values, and PostgreSQL's sequences are moved past them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import MetaData, func, select, text

from .engine import Database

#: Rows inserted per statement.
BATCH = 500
#: ``control_planes``: the processes registered on the source are not the target's (engine/planes.py).
SKIPPED = frozenset({"alembic_version", "control_planes"})


class CopyRefused(Exception):
    """The copy cannot start (target not empty, unsupported URL); nothing was written."""


@dataclass
class CopyReport:
    #: table -> rows copied, in the order the tables were copied
    tables: dict[str, int] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


def database_for_url(url: str) -> Database:
    """``sqlite:///path`` (or ``sqlite+aiosqlite:///path``) or a PostgreSQL URL, as :class:`Database`."""
    from pathlib import Path

    scheme, sep, rest = url.partition("://")
    if sep and scheme in ("sqlite", "sqlite+aiosqlite") and rest.startswith("/"):
        path = Path(rest[1:]).resolve()
        return Database(f"sqlite+aiosqlite:///{path}", sqlite_path=path)
    from pydantic import ValidationError

    from rivetr_core.config import DatabaseConfig

    try:
        settings = DatabaseConfig(url=url)  # type: ignore[arg-type]
    except ValidationError:
        raise CopyRefused(
            f"unsupported database URL scheme {scheme!r}: use sqlite:///path/to/rivetr.db or "
            "postgresql+asyncpg://user:password@host/db"
        ) from None
    assert settings.url is not None
    return Database(settings.url.get_secret_value())


def _reflect(sync_conn: Any) -> MetaData:
    metadata = MetaData()
    metadata.reflect(sync_conn)
    return metadata


async def _reflected(db: Database) -> MetaData:
    """The tables of ``db`` as they are, read through a plain engine: PostgreSQL's catalog queries need the
    dialect's own parameter casts, which :class:`Database` widens (``integer_binds_as_bigint``)."""
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(db.url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_reflect)
    finally:
        await engine.dispose()


async def copy_database(source: Database, target: Database, *, replace: bool = False) -> CopyReport:
    """Copy every row of ``source`` into ``target`` (see the module docstring); raises :class:`CopyRefused`
    before writing anything when the target already holds a schema and ``replace`` is false."""
    if source.url == target.url:
        raise CopyRefused("--from and --to name the same database")
    if source.sqlite_path is not None and not source.sqlite_path.is_file():
        raise CopyRefused(f"no database at {source.sqlite_path}")
    for db in (source, target):
        if db.sqlite_path is None:
            await db.check_reachable()  # DatabaseUnavailable, naming the server without the password
    if await target.applied_revisions() and not replace:
        raise CopyRefused(
            "the target database already holds a Rivetr schema: copy into a new, empty database "
            "(or pass --replace to overwrite everything in it)"
        )
    await source.startup()
    await target.startup()
    report = CopyReport()
    source_meta = await _reflected(source)
    target_meta = await _reflected(target)
    async with source.engine.connect() as src, target.engine.begin() as dst:
        if (
            source.dialect == "postgresql"
        ):  # one snapshot of a live server (a SQLite source: its read transaction)
            await src.execution_options(isolation_level="REPEATABLE READ")
        order = [t for t in target_meta.sorted_tables if t.name not in SKIPPED]
        for table in reversed(order):  # children first: seeded rows (the default team) make way
            await dst.execute(table.delete())
        for table in order:
            if table.name not in source_meta.tables:
                report.tables[table.name] = 0
                continue
            columns = [c.name for c in source_meta.tables[table.name].columns if c.name in table.c]
            copied = 0
            result = await src.stream(select(*(source_meta.tables[table.name].c[name] for name in columns)))
            async for chunk in result.partitions(BATCH):
                await dst.execute(table.insert(), [dict(zip(columns, row, strict=True)) for row in chunk])
                copied += len(chunk)
            report.tables[table.name] = copied
        if target.dialect == "postgresql":
            await _advance_sequences(dst, order)
    return report


async def _advance_sequences(conn: Any, tables: list[Any]) -> None:
    """Integer keys were copied with their values: move each serial sequence past the largest one, or the next
    insert would collide."""
    for table in tables:
        for column in table.primary_key.columns:
            sequence = (
                await conn.execute(
                    text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": column.name}
                )
            ).scalar()
            if sequence is None:
                continue
            highest = (await conn.execute(select(func.max(column)))).scalar()
            if highest is not None:
                await conn.execute(text("SELECT setval(:s, :v)"), {"s": sequence, "v": highest})
