"""deployment config: what a repository's rivetr.toml applied at a deployment (issue 24)

``deployments.applied_config`` (JSON, null when the commit had no rivetr.toml): ``{"commit", "path", "file",
"changes"}``; a rollback to the deployment applies ``file`` again, so its settings go back with its image.

Revision ID: 0029_deployment_config
Revises: 0028_app_replicas
"""

import sqlalchemy as sa
from alembic import op

revision = "0029_deployment_config"
down_revision = "0028_app_replicas"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("deployments", sa.Column("applied_config", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.drop_column("applied_config")
