"""Every table, one module per area. Importing this package registers them all on ``SQLModel.metadata``.

Each area adds its module here and its migration (on its own Alembic branch from ``0001_core``). Tables of a
feature an idle control plane never touches (:mod:`.backups`, :mod:`.teams`) are registered by that feature's
code when it first loads, and by the migrations' environment.
"""

from . import (
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
