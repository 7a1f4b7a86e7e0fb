"""apps: volumes and bind mounts per app, and the deploy strategy

Revision ID: 0014_volumes
Revises: 0013_app_selection
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_volumes"
down_revision = "0013_app_selection"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "volumes",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("app_id", sa.String(32), sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("mount_path", sa.String(1000), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("host_path", sa.String(1000), nullable=True),
        sa.Column("read_only", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("app_id", "name", name="uq_volumes_app_name"),
        sa.UniqueConstraint("app_id", "mount_path", name="uq_volumes_app_mount_path"),
    )
    op.create_index("ix_volumes_app_id", "volumes", ["app_id"])
    # Every existing app keeps today's behaviour: start the new container before stopping the old.
    with op.batch_alter_table("apps") as batch:
        batch.add_column(
            sa.Column("deploy_strategy", sa.String(20), nullable=False, server_default="rolling")
        )


def downgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.drop_column("deploy_strategy")
    op.drop_index("ix_volumes_app_id", table_name="volumes")
    op.drop_table("volumes")
