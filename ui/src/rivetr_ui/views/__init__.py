"""Dashboard pages. Importing this package attaches every view module to :data:`bp`."""

from .. import filters  # noqa: F401  (registers the template filters)
from ..blueprint import bp
from . import apps, assets, auth, backups, dashboard, errors, live, projects, services, settings, terminal  # noqa: F401

__all__ = ["bp"]
