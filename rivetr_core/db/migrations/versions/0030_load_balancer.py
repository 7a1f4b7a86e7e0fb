"""load balancer: how the proxy spreads an app's requests over its replicas (issue 23)

``apps.load_balancer``: ``round_robin`` (default, what the proxy always did) or ``least_conn``.

Revision ID: 0030_load_balancer
Revises: 0029_deployment_config
"""

import sqlalchemy as sa
from alembic import op

revision = "0030_load_balancer"
down_revision = "0029_deployment_config"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "apps", sa.Column("load_balancer", sa.String(20), nullable=False, server_default="round_robin")
    )


def downgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.drop_column("load_balancer")
