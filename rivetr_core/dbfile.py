"""The SQLite file in the data dir and the schema revisions it records, read with the standard library only.

``rivetr serve`` decides with :func:`recorded_heads` whether a migration child must start, before it imports
SQLAlchemy or anything else heavy, so that on a first start (or after an upgrade) the child begins at once and
runs while the server imports (``rivetr_core.server.start_pending_migrations``).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

#: The SQLite file in the data dir.
DB_FILE = "rivetr.db"

#: What ``alembic_version`` holds once every branch is migrated (a head another branch depends on, like
#: 0002_apps, is implied and not recorded). tests/test_db.py keeps this equal to what a fresh upgrade records;
#: when the database already records exactly these, start-up skips importing Alembic at all (~0.3 s and
#: several MB of resident memory on every restart).
SCHEMA_HEADS = frozenset(
    {
        "0003_tls",
        "0011_webhook_digest",
        "0025_stack_backups",
        "0030_notification_routes",
        "0030_app_config_path",
        "0030_control_planes",
        "0032_upstream_protocol",
        "0031_app_placement",
        "0032_plane_columns",
    }
)


def recorded_heads(path: Path) -> frozenset[str]:
    """What ``alembic_version`` of the SQLite file at ``path`` records; empty for a missing, new or unreadable
    file."""
    if not path.exists():
        return frozenset()
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return frozenset(row[0] for row in conn.execute("SELECT version_num FROM alembic_version"))
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return frozenset()
