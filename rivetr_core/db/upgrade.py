"""``python -m rivetr_core.db.upgrade DATA_DIR``: check the database and migrate it to every head, then exit.

``rivetr serve`` runs this in a child process when migrations are pending (first start, after an upgrade), so
Alembic and what it pulls in (Mako, Pygments: ~6 MB resident) never load into the long-lived server process;
the server then finds the database at every head and skips Alembic (see ``Database.migrate``).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from .engine import Database


async def upgrade(data_dir: Path) -> None:
    db = Database.for_data_dir(data_dir)
    try:
        await db.startup()
    finally:
        await db.close()


if __name__ == "__main__":
    asyncio.run(upgrade(Path(sys.argv[1])))
