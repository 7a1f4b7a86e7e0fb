"""control planes: the live ``rivetr serve`` processes on one PostgreSQL database, and who owns a deployment

``control_planes``: one row per running process (id, host, pid, started_at, heartbeat_at), refreshed every few
seconds (rivetr_core/engine/planes.py). ``deployments.plane_id``: the process that queued or claimed it; start-up
recovery, the crash watcher and orphan removal touch a deployment only when its plane is gone. SQLite installs
create the table and the column but never use them (one process owns the file).

Revision ID: 0030_control_planes
Revises: 0029_deployment_config
"""

import sqlalchemy as sa
from alembic import op

revision = "0030_control_planes"
down_revision = "0029_deployment_config"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "control_planes",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(40), nullable=False, server_default=""),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.add_column("deployments", sa.Column("plane_id", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.drop_column("plane_id")
    op.drop_table("control_planes")
