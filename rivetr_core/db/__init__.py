"""Database access: SQLite (WAL) through SQLModel + aiosqlite, or PostgreSQL through asyncpg (``[database] url``);
Alembic migrations at start-up."""

from .engine import Database, DatabaseCorrupt, DatabaseUnavailable, aware, isoformat, new_id, utcnow

__all__ = ["Database", "DatabaseCorrupt", "DatabaseUnavailable", "aware", "isoformat", "new_id", "utcnow"]
