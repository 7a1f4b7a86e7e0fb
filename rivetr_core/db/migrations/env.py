"""Alembic environment: runs on the connection core hands over (see rivetr_core.db.engine._upgrade).

Migrations are hand-written per area, each area on its own branch from the core baseline so parallel work
never fights over one chain; start-up upgrades to all heads.
"""

from alembic import context
from sqlmodel import SQLModel

import rivetr_core.models

# Lazily loaded features' tables: backups (and the services it imports), compose stacks, teams, two-factor login.
import rivetr_core.models.app_pages
import rivetr_core.models.backups
import rivetr_core.models.invitations
import rivetr_core.models.passkeys
import rivetr_core.models.registries
import rivetr_core.models.replicas
import rivetr_core.models.stacks
import rivetr_core.models.teams
import rivetr_core.models.two_factor  # noqa: F401

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through rivetr_core.db.Database.migrate()")
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=True,  # SQLite ALTER TABLE support
)
with context.begin_transaction():
    context.run_migrations()
