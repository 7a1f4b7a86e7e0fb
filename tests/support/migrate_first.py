"""A test app's config whose database is already migrated by a child process, as ``rivetr serve`` does.

The lazy-loading probes (feature code loads with its first use, not at start-up) start an app in a fresh
interpreter and look at ``sys.modules``: Alembic imports every table, so the schema must be migrated elsewhere first,
in a child process (``python -m rivetr_core.db.upgrade``), on whichever database the config names (the SQLite file
of the data dir, or the PostgreSQL database of ``RIVETR_TEST_DATABASE=postgres``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from rivetr_core.config import RivetrConfig
from tests.support.server import make_config


def migrated_config(data_dir: Path, **sections: Any) -> RivetrConfig:
    """``make_config(data_dir, **sections)`` after migrating its database in a child process."""
    from rivetr_core.db.upgrade import URL_ENV

    config = make_config(data_dir, **sections)
    env = dict(os.environ)
    if config.database.url is not None:  # passed as rivetr serve passes it: in the environment
        env[URL_ENV] = config.database.url.get_secret_value()
    subprocess.run([sys.executable, "-m", "rivetr_core.db.upgrade", str(data_dir)], check=True, env=env)
    return config
