"""apps: the builder and health check an app selects by name

Revision ID: 0013_app_selection
Revises: 0012_app_host_limits
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_app_selection"
down_revision = "0012_app_host_limits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # What every app did before: detection by priority and the HTTP check (its options stay in healthcheck_*).
    with op.batch_alter_table("apps") as batch:
        batch.add_column(sa.Column("builder", sa.String(100), nullable=False, server_default="auto"))
        batch.add_column(
            sa.Column("health_check", sa.JSON(), nullable=False, server_default='{"kind": "http"}')
        )


def downgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.drop_column("health_check")
        batch.drop_column("builder")
