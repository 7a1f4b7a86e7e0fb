"""The state backup of an install whose control-plane database is PostgreSQL (``[database] url``).

The archive keeps its one format whatever the database: its ``rivetr.db`` is a SQLite file. On PostgreSQL it is
a logical export of every table through SQLAlchemy (:func:`rivetr_core.db.copy.copy_database`, what
``rivetr db copy`` does), read in one REPEATABLE READ snapshot of the live server, so:

* an archive of a PostgreSQL install restores on SQLite (a plain data dir) and the other way round;
* nothing outside Python is needed (``pg_dump`` must match the server's major version and writes a format only
  PostgreSQL reads back).

A restore into PostgreSQL first exports the rows it replaces to ``<data_dir>/.pre-restore-<time>/rivetr.db`` (the
same kind of file: ``rivetr db copy --from sqlite:///... --replace`` puts them back), then replaces every row of
the database with the archive's in one transaction. It refuses while any control plane on that database is alive
(engine/planes.py): a restore under a running server would be overwritten by it, or break it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path


class StateDatabaseError(Exception):
    """The export or import could not run; the message says why (never the URL: it may hold a password)."""


def export_to_sqlite(url: str, target: Path) -> None:
    """Every row of the PostgreSQL database at ``url`` into a new SQLite file ``target`` (blocking: run it in a
    thread from async code)."""
    asyncio.run(_copy(url, f"sqlite:///{target}"))


def import_from_sqlite(source: Path, url: str, previous: Path) -> None:
    """Replace every row of the PostgreSQL database at ``url`` with the SQLite file ``source``'s, after saving
    the current rows into the new SQLite file ``previous``."""
    asyncio.run(_copy(url, f"sqlite:///{previous}"))
    asyncio.run(_copy(f"sqlite:///{source}", url, replace=True))


def live_planes(url: str) -> list[str]:
    """``host pid N`` of every control plane whose lease is current on the database at ``url``."""
    return asyncio.run(_live_planes(url))


async def _copy(source_url: str, target_url: str, *, replace: bool = False) -> None:
    from rivetr_core.db.copy import CopyRefused, copy_database, database_for_url
    from rivetr_core.db.engine import DatabaseUnavailable

    source, target = database_for_url(source_url), database_for_url(target_url)
    try:
        await copy_database(source, target, replace=replace)
    except (CopyRefused, DatabaseUnavailable) as exc:
        raise StateDatabaseError(str(exc)) from None
    finally:
        await source.close()
        await target.close()


async def _live_planes(url: str) -> list[str]:
    import sqlalchemy as sa

    from rivetr_core.db.copy import database_for_url
    from rivetr_core.engine.planes import LIVE_PLANES_SQL

    db = database_for_url(url)
    try:
        # Any lease younger than the longest one a plane may have: a plane is live by its own lease, which the
        # restoring process cannot know, so any heartbeat in the last minute counts.
        query = sa.text(
            "SELECT host, pid FROM control_planes WHERE id IN (" + LIVE_PLANES_SQL + ") ORDER BY started_at"
        )
        async with db.engine.connect() as conn:
            rows = (await conn.execute(query, {"lease": 60.0})).all()
    except sa.exc.ProgrammingError:
        return []  # no control_planes table yet: an install older than the planes
    finally:
        await db.close()
    return [f"{r.host} pid {r.pid}" for r in rows]
