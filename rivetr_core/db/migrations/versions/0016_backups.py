"""backups: destinations, runs, restores and schedules of volume and state backups; apps' backup consistency

Revision ID: 0016_backups
Revises: 0014_volumes, 0015_schedules
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_backups"
down_revision = ("0014_volumes", "0015_schedules")
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "backup_destinations",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(63), nullable=False, unique=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("secret_enc", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "backup_schedules",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("what", sa.String(10), nullable=False),
        sa.Column("app_id", sa.String(32), sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=True),
        sa.Column(
            "destination_id",
            sa.String(32),
            sa.ForeignKey("backup_destinations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("cron", sa.String(200), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("keep_last", sa.Integer(), nullable=False),
        sa.Column("keep_daily", sa.Integer(), nullable=False),
        sa.Column("keep_weekly", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_backup_schedules_app_id", "backup_schedules", ["app_id"])
    op.create_index("ix_backup_schedules_destination_id", "backup_schedules", ["destination_id"])
    op.create_table(
        "backups",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("what", sa.String(10), nullable=False),
        sa.Column("app_id", sa.String(32), sa.ForeignKey("apps.id", ondelete="SET NULL"), nullable=True),
        sa.Column("app_name", sa.String(63), nullable=True),
        sa.Column(
            "destination_id",
            sa.String(32),
            sa.ForeignKey("backup_destinations.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column(
            "schedule_id",
            sa.String(32),
            sa.ForeignKey("backup_schedules.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("trigger", sa.String(10), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("key", sa.String(1000), nullable=True),
        sa.Column("codec", sa.String(10), nullable=True),
        sa.Column("encrypted", sa.Boolean(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("volumes", sa.JSON(), nullable=False),
        sa.Column("consistency", sa.String(10), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
    )
    for column in ("app_id", "destination_id", "schedule_id", "status"):
        op.create_index(f"ix_backups_{column}", "backups", [column])
    op.create_table(
        "backup_restores",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "backup_id", sa.String(32), sa.ForeignKey("backups.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("app_id", sa.String(32), sa.ForeignKey("apps.id", ondelete="SET NULL"), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("volumes", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_backup_restores_backup_id", "backup_restores", ["backup_id"])
    op.create_index("ix_backup_restores_app_id", "backup_restores", ["app_id"])
    # Existing apps get the safe default: paused for the copy.
    with op.batch_alter_table("apps") as batch:
        batch.add_column(
            sa.Column("backup_consistency", sa.String(10), nullable=False, server_default="pause")
        )
        batch.add_column(sa.Column("pre_backup_command", sa.String(2000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.drop_column("pre_backup_command")
        batch.drop_column("backup_consistency")
    op.drop_table("backup_restores")
    op.drop_table("backups")
    op.drop_table("backup_schedules")
    op.drop_table("backup_destinations")
