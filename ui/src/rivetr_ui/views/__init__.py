"""Dashboard pages. Importing this package attaches every view module to :data:`bp`."""

from .. import filters  # noqa: F401  (registers the template filters)
from ..blueprint import bp
from . import (  # noqa: F401  (each module attaches its pages to bp)
    app_replicas,
    app_tasks,
    apps,
    assets,
    audit,
    auth,
    backups,
    certificates,
    dashboard,
    errors,
    live,
    nodes,
    notifications,
    profile,
    project_notifications,
    projects,
    proxy_routes,
    registries,
    server,
    services,
    settings,
    stack_backups,
    stacks,
    teams,
    terminal,
    users,
)

__all__ = ["bp"]
