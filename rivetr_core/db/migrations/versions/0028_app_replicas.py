"""app replicas: an app runs N containers behind the proxy on one server (issue 23)

``apps.replicas`` (default 1: one container, as before) and ``deployment_replicas``, the containers of replicas
1..N-1 of a deployment (replica 0 stays in ``deployments.container_id/container_name/upstream``).

Revision ID: 0028_app_replicas
Revises: 0027_app_pages
"""

import sqlalchemy as sa
from alembic import op

revision = "0028_app_replicas"
down_revision = "0027_app_pages"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("apps", sa.Column("replicas", sa.Integer(), nullable=False, server_default="1"))
    op.create_table(
        "deployment_replicas",
        sa.Column(
            "deployment_id",
            sa.String(32),
            sa.ForeignKey("deployments.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("index", sa.Integer(), primary_key=True),
        sa.Column("container_id", sa.String(128), nullable=True),
        sa.Column("container_name", sa.String(255), nullable=True),
        sa.Column("upstream", sa.String(300), nullable=True),
        sa.Column("restart_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_deployment_replicas_deployment_id", "deployment_replicas", ["deployment_id"])


def downgrade() -> None:
    op.drop_table("deployment_replicas")
    with op.batch_alter_table("apps") as batch:
        batch.drop_column("replicas")
