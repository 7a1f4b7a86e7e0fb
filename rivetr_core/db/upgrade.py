"""``python -m rivetr_core.db.upgrade DATA_DIR``: check the database and migrate it to every head, then exit.

``rivetr serve`` runs this in a child process when migrations are pending (first start, after an upgrade), so
Alembic and what it pulls in (Mako, Pygments: ~6 MB resident) never load into the long-lived server process;
the server then finds the database at every head and skips Alembic (see ``Database.migrate``).

With PostgreSQL configured the server passes ``[database] url`` in ``RIVETR_DATABASE__URL`` (never on the command
line, where other users could read it); the child compares the heads through the server and exits at once when
there is nothing to do.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from .engine import Database

URL_ENV = "RIVETR_DATABASE__URL"


def database_for(data_dir: Path, url: str | None) -> Database:
    if not url:
        return Database.for_data_dir(data_dir)
    from rivetr_core.config import DatabaseConfig

    settings = DatabaseConfig(url=url)  # type: ignore[arg-type]  # the same normalising as the config file's
    assert settings.url is not None
    return Database(settings.url.get_secret_value())


async def upgrade(data_dir: Path, url: str | None = None) -> None:
    db = database_for(data_dir, url)
    try:
        await db.startup()
    finally:
        await db.close()


if __name__ == "__main__":
    asyncio.run(upgrade(Path(sys.argv[1]), os.environ.get(URL_ENV) or None))
