"""rolling update: an app's replicas are replaced max_surge at a time, keeping replicas - max_unavailable (issue 23)

``apps.max_surge`` (default 1) and ``apps.max_unavailable`` (default 0): see rivetr_core.engine.rollout.

Revision ID: 0030_rolling_update
Revises: 0029_deployment_config
"""

import sqlalchemy as sa
from alembic import op

revision = "0030_rolling_update"
down_revision = "0029_deployment_config"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("apps", sa.Column("max_surge", sa.Integer(), nullable=False, server_default="1"))
    op.add_column("apps", sa.Column("max_unavailable", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.drop_column("max_unavailable")
        batch.drop_column("max_surge")
