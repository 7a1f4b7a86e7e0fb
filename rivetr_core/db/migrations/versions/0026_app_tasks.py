"""app tasks: scheduled tasks of an app, their runs, and scheduled deployments (issue 21, "Scheduling")

Revision ID: 0026_app_tasks
Revises: 0025_provider_settings
"""

import sqlalchemy as sa
from alembic import op

revision = "0026_app_tasks"
down_revision = "0025_provider_settings"
branch_labels = None
#: apps is created on another branch of the history.
depends_on = "0002_apps"


def upgrade() -> None:
    app_fk = sa.ForeignKey("apps.id", ondelete="CASCADE")
    op.create_table(
        "app_tasks",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("app_id", sa.String(32), app_fk, nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("command", sa.String(4000), nullable=False),
        sa.Column("schedule", sa.String(200), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("timeout", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("app_id", "name", name="uq_app_tasks_app_name"),
    )
    op.create_index("ix_app_tasks_app_id", "app_tasks", ["app_id"])
    op.create_table(
        "app_task_runs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "task_id", sa.String(32), sa.ForeignKey("app_tasks.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("app_id", sa.String(32), sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False),
        sa.Column("trigger", sa.String(10), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("command", sa.String(4000), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("output", sa.Text(), nullable=False),
        sa.Column("output_truncated", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
    )
    op.create_index("ix_app_task_runs_task_id", "app_task_runs", ["task_id"])
    op.create_index("ix_app_task_runs_app_id", "app_task_runs", ["app_id"])
    op.create_table(
        "scheduled_deployments",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("app_id", sa.String(32), sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=True),
        sa.Column("schedule", sa.String(200), nullable=True),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("no_cache", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("last_run_at", sa.DateTime(), nullable=True),
        sa.Column("last_deployment_id", sa.String(32), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_scheduled_deployments_app_id", "scheduled_deployments", ["app_id"])


def downgrade() -> None:
    op.drop_table("scheduled_deployments")
    op.drop_table("app_task_runs")
    op.drop_table("app_tasks")
