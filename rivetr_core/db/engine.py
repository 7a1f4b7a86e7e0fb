"""The async engine, its SQLite pragmas, the start-up integrity check and migrations.

SQLite (the embedded default) or PostgreSQL (``[database] url``): pragmas are applied only when the URL is
SQLite, connection pool settings only on PostgreSQL, and migrations use Alembic operations (batch mode on SQLite
for ALTERs). The PostgreSQL driver (asyncpg) is imported by SQLAlchemy only when such a URL is configured.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from rivetr_core.authz.visibility import VisibleSession
from rivetr_core.db import portable  # noqa: F401 - registers SQLite's function names for PostgreSQL too
from rivetr_core.dbfile import DB_FILE, SCHEMA_HEADS, recorded_heads

if TYPE_CHECKING:
    from rivetr_core.config import RivetrConfig

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def utcnow() -> datetime:
    return datetime.now(UTC)


@overload
def aware(value: datetime) -> datetime: ...
@overload
def aware(value: None) -> None: ...
def aware(value: datetime | None) -> datetime | None:
    """A stored time as an aware UTC datetime: SQLite hands datetimes back naive (they are stored in UTC)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def isoformat(value: datetime | None) -> str | None:
    """API form of a stored time: ISO 8601 in UTC with a Z. SQLite hands back naive values (stored UTC)."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="milliseconds") + "Z"


def new_id() -> str:
    return uuid.uuid4().hex


class DatabaseCorrupt(Exception):
    """The database file fails ``PRAGMA integrity_check``; Rivetr refuses to start on it."""


class DatabaseUnavailable(Exception):
    """The configured database server cannot be reached or refuses the login; the message names it without the
    password."""


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL, much faster commits
    cursor.close()


def check_integrity(path: Path) -> None:
    """Refuse a corrupt or foreign file before anything writes to it."""
    if not path.exists():
        return
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
    except sqlite3.DatabaseError as exc:
        raise DatabaseCorrupt(
            f"database {path} is not a usable SQLite file ({exc}); restore it from a backup "
            "or move it away to start with an empty database"
        ) from None
    problems = [r[0] for r in rows if r[0] != "ok"]
    if problems:
        raise DatabaseCorrupt(
            f"database {path} failed its integrity check: {'; '.join(problems[:5])}; "
            "restore it from a backup or move it away to start with an empty database"
        )


def private_database(path: Path) -> None:
    """The database file 0600 before SQLite opens it (SQLite creates it 0644 minus the umask, and makes its
    -wal/-shm files with the database file's mode); an older, looser file is tightened."""
    from rivetr_core.secrets import make_private_file

    make_private_file(path)
    for extra in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if extra.exists():
            make_private_file(extra)


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql", "postgres:"))


class Database:
    """Owns the async engine and hands out sessions. One per app."""

    def __init__(
        self,
        url: str,
        *,
        sqlite_path: Path | None = None,
        pool_size: int = 5,
        max_overflow: int = 10,
        pool_timeout: float = 30.0,
    ) -> None:
        self.url = url
        self.sqlite_path = sqlite_path
        if is_postgres(url):
            from .postgres import engine_options, integer_binds_as_bigint, on_connect

            self.engine: AsyncEngine = create_async_engine(
                url,
                **engine_options(pool_size=pool_size, max_overflow=max_overflow, pool_timeout=pool_timeout),
            )
            integer_binds_as_bigint(self.engine.dialect)
            event.listen(self.engine.sync_engine, "connect", on_connect)
        else:
            self.engine = create_async_engine(url, pool_pre_ping=False)
        if url.startswith("sqlite"):
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        # VisibleSession: a request sees only its team's rows (rivetr_core.authz.visibility).
        self.sessionmaker = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False, sync_session_class=VisibleSession
        )

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> Database:
        path = (data_dir / DB_FILE).resolve()
        return cls(f"sqlite+aiosqlite:///{path}", sqlite_path=path)

    @classmethod
    def for_config(cls, config: RivetrConfig) -> Database:
        """``[database] url`` when set (PostgreSQL, with the pool settings), else the SQLite file in data_dir."""
        settings = config.database
        if settings.url is None:
            return cls.for_data_dir(config.server.data_dir)
        return cls(
            settings.url.get_secret_value(),
            pool_size=settings.pool_size,
            max_overflow=settings.max_overflow,
            pool_timeout=settings.pool_timeout,
        )

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    async def startup(self) -> None:
        """Integrity check, then migrate to the newest schema."""
        if self.sqlite_path:
            private_database(self.sqlite_path)
            check_integrity(self.sqlite_path)
        else:
            await self.check_reachable()
        await self.migrate()

    async def check_reachable(self) -> None:
        """One round trip, so that an unreachable server or a refused login is one clear start-up error rather
        than a driver traceback from the middle of the migrations."""
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:
            reason = getattr(exc, "orig", None) or exc
            where = self.engine.url.render_as_string(hide_password=True)
            raise DatabaseUnavailable(f"cannot reach the database {where}: {reason}") from None

    async def migrate(self, target: str = "heads") -> None:
        if target == "heads" and await self.applied_revisions() == SCHEMA_HEADS:
            return
        async with self.engine.begin() as conn:
            await conn.run_sync(_upgrade, target)

    async def applied_revisions(self) -> frozenset[str]:
        """What ``alembic_version`` records (empty for a new database)."""
        if self.sqlite_path:
            return recorded_heads(self.sqlite_path)  # the same read rivetr serve decides migrations with
        async with self.engine.connect() as conn:
            exists = await conn.execute(
                text(
                    "SELECT 1 FROM information_schema.tables "
                    "WHERE table_name='alembic_version' AND table_schema=current_schema()"
                )
            )
            if exists.first() is None:
                return frozenset()
            return frozenset(
                r[0] for r in await conn.execute(text("SELECT version_num FROM alembic_version"))
            )

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session:
            yield session

    async def delete(self, model: type[SQLModel], key: Any) -> bool:
        """Delete the row of ``model`` with primary key ``key``; False when there is none."""
        async with self.session() as session:
            row = await session.get(model, key)
            if row is None:
                return False
            await session.delete(row)
            await session.commit()
            return True

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    async def journal_mode(self) -> str:
        """SQLite's journal mode (``wal``); empty on PostgreSQL, which has none."""
        if self.dialect != "sqlite":
            return ""
        async with self.engine.connect() as conn:
            return str((await conn.execute(text("PRAGMA journal_mode"))).scalar())

    async def close(self) -> None:
        await self.engine.dispose()


def alembic_config(connection: Any = None) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: Any, target: str) -> None:
    # Imported lazily: Alembic is only needed at start-up, not on request paths.
    from alembic import command

    command.upgrade(alembic_config(connection), target)
