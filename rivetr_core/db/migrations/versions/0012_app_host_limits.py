"""apps: per-app host protection (memory limit, log rotation, OOM score) (placeholder: filled in by the change that needs it)

Revision ID: 0012_app_host_limits
Revises: 0008_apps_https_flags
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_app_host_limits"
down_revision = "0008_apps_https_flags"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL: the app takes the [runtime] default (memory_limit already exists; the OOM score is server-wide).
    with op.batch_alter_table("apps") as batch:
        batch.add_column(sa.Column("pids_limit", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("log_max_size", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("log_max_files", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.drop_column("log_max_files")
        batch.drop_column("log_max_size")
        batch.drop_column("pids_limit")
