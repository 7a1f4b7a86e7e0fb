"""Database access: SQLite (WAL) through SQLModel + aiosqlite, Alembic migrations at start-up."""

from .engine import Database, DatabaseCorrupt, aware, isoformat, new_id, utcnow

__all__ = ["Database", "DatabaseCorrupt", "aware", "isoformat", "new_id", "utcnow"]
