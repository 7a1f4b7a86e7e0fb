"""Every table, one module per area. Importing this package registers them all on ``SQLModel.metadata``.

Each area adds its module here and its migration (on its own Alembic branch from ``0001_core``). Tables of a
feature an idle control plane never touches (:mod:`.backups`, :mod:`.teams`) are registered by that feature's
code when it first loads, and by the migrations' environment.
"""

from sqlmodel import SQLModel

# Table classes build their pydantic validators on first use, not at import: rows come from SQLAlchemy, which
# never validates them, and most tables are never validated or dumped through pydantic in an idle server
# (~0.6 MB of idle RSS for ~40 tables). Set before any table class exists; inherited by every subclass.
SQLModel.model_config["defer_build"] = True

from . import (  # noqa: E402
    accounts,  # noqa: F401
    apps,  # noqa: F401
    core,  # noqa: F401
    git,  # noqa: F401
    ops,  # noqa: F401
    schedules,  # noqa: F401
    ssh,  # noqa: F401
    tls,  # noqa: F401
    volumes,  # noqa: F401
)
