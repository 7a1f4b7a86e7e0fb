"""services: managed databases and one-click services, their links to apps, their backups; apps' release phase

Revision ID: 0017_services
Revises: 0016_backups
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_services"
down_revision = "0016_backups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "services",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(63), nullable=False, unique=True),
        sa.Column(
            "project_id", sa.String(32), sa.ForeignKey("projects.id", ondelete="RESTRICT"), nullable=True
        ),
        sa.Column("type", sa.String(63), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("image", sa.String(500), nullable=False),
        sa.Column("cpu_limit", sa.Float(), nullable=True),
        sa.Column("memory_limit", sa.Integer(), nullable=True),
        sa.Column("public_port", sa.Integer(), nullable=True, unique=True),
        sa.Column("environment_enc", sa.Text(), nullable=True),
        sa.Column("credentials_enc", sa.Text(), nullable=False),
        sa.Column("desired_state", sa.String(10), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("container_id", sa.String(128), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_services_project_id", "services", ["project_id"])
    op.create_table(
        "service_links",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("app_id", sa.String(32), sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False),
        sa.Column(
            "service_id", sa.String(32), sa.ForeignKey("services.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("env_prefix", sa.String(63), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("app_id", "env_prefix", name="uq_service_links_app_prefix"),
    )
    op.create_index("ix_service_links_app_id", "service_links", ["app_id"])
    op.create_index("ix_service_links_service_id", "service_links", ["service_id"])
    # A backup or schedule of a service's data (what="service"): the row outlives the service like an app's.
    with op.batch_alter_table("backups") as batch:
        batch.add_column(
            sa.Column(
                "service_id",
                sa.String(32),
                sa.ForeignKey("services.id", name="fk_backups_service_id", ondelete="SET NULL"),
                nullable=True,
            )
        )
        batch.add_column(sa.Column("service_name", sa.String(63), nullable=True))
        batch.create_index("ix_backups_service_id", ["service_id"])
    with op.batch_alter_table("backup_schedules") as batch:
        batch.add_column(
            sa.Column(
                "service_id",
                sa.String(32),
                sa.ForeignKey("services.id", name="fk_backup_schedules_service_id", ondelete="CASCADE"),
                nullable=True,
            )
        )
        batch.create_index("ix_backup_schedules_service_id", ["service_id"])
    # Release phase: a one-off container of the new image before it takes traffic; a command after the switch.
    with op.batch_alter_table("apps") as batch:
        batch.add_column(sa.Column("release_command", sa.String(2000), nullable=True))
        batch.add_column(sa.Column("release_timeout", sa.Float(), nullable=False, server_default="600"))
        batch.add_column(sa.Column("post_deploy_command", sa.String(2000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.drop_column("post_deploy_command")
        batch.drop_column("release_timeout")
        batch.drop_column("release_command")
    with op.batch_alter_table("backup_schedules") as batch:
        batch.drop_index("ix_backup_schedules_service_id")
        batch.drop_column("service_id")
    with op.batch_alter_table("backups") as batch:
        batch.drop_index("ix_backups_service_id")
        batch.drop_column("service_name")
        batch.drop_column("service_id")
    op.drop_table("service_links")
    op.drop_table("services")
