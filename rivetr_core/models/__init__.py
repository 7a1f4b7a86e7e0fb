"""Every table, one module per area. Importing this package registers them all on ``SQLModel.metadata``.

Each area adds its module here and its migration (on its own Alembic branch from ``0001_core``).
"""

from . import core  # noqa: F401
from . import git  # noqa: F401
from . import tls  # noqa: F401
from . import ops  # noqa: F401
from . import apps  # noqa: F401
from . import accounts  # noqa: F401
