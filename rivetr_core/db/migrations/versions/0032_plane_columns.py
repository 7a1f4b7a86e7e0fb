"""plane columns: the control plane that runs a stack deployment or an app task run

``stack_deployments.plane_id`` and ``app_task_runs.plane_id``, like ``deployments.plane_id`` (0030): the
``rivetr serve`` process that queued or claimed the row (rivetr_core/engine/planes.py). A live plane adopts a
dead plane's rows by this column (engine/adoption.py) instead of leaving every row without an owner alone while
another plane lives. Null on SQLite installs (one process owns the file) and on rows written before.

Revision ID: 0032_plane_columns
Revises: 0030_audit_changes
"""

import sqlalchemy as sa
from alembic import op

revision = "0032_plane_columns"
down_revision = "0030_audit_changes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("stack_deployments", sa.Column("plane_id", sa.String(32), nullable=True))
    op.add_column("app_task_runs", sa.Column("plane_id", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("app_task_runs") as batch:
        batch.drop_column("plane_id")
    with op.batch_alter_table("stack_deployments") as batch:
        batch.drop_column("plane_id")
