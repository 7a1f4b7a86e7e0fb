"""ops: notification channels and deliveries, audit log, metric samples

Revision ID: 0005_ops
Revises: 0001_core
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_ops"
down_revision = "0001_core"
branch_labels = ("ops",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notification_channels",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("notifier", sa.String(50), nullable=False, server_default="apprise"),
        sa.Column("url_encrypted", sa.Text(), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("failures", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("total_failures", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_success_at", sa.DateTime(), nullable=True),
        sa.Column("last_failure_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "notification_deliveries",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "channel_id",
            sa.String(32),
            sa.ForeignKey("notification_channels.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False, index=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("ts", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(200), nullable=False, index=True),
        sa.Column("method", sa.String(10), nullable=False),
        sa.Column("route", sa.String(300), nullable=False),
        sa.Column("path", sa.String(500), nullable=False),
        sa.Column("target", sa.JSON(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("client", sa.String(100), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
    )
    op.create_index("ix_audit_log_ts", "audit_log", ["ts"])
    op.create_index("ix_audit_log_actor_ts", "audit_log", ["actor", "ts"])
    op.create_table(
        "metric_samples",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("ts", sa.DateTime(), nullable=False),
        sa.Column("scope", sa.String(10), nullable=False),
        sa.Column("app_id", sa.String(64), nullable=True),
        sa.Column("resolution", sa.String(8), nullable=False, server_default="raw"),
        sa.Column("cpu_percent", sa.Float(), nullable=False, server_default="0"),
        sa.Column("memory_used", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("memory_limit", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("net_rx", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("net_tx", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("disk_percent", sa.Float(), nullable=True),
        sa.Column("containers", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_index("ix_metric_samples_scope_app_ts", "metric_samples", ["scope", "app_id", "ts"])


def downgrade() -> None:
    op.drop_table("metric_samples")
    op.drop_table("audit_log")
    op.drop_table("notification_deliveries")
    op.drop_table("notification_channels")
