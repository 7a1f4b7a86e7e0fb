"""app config path: where an app's repository keeps its rivetr.toml (issue 24)

``apps.config_path``: a path relative to the repository's root, "rivetr.toml" for every existing app (what
deployments read so far); null: off, deployments ignore the file.

Revision ID: 0030_app_config_path
Revises: 0029_deployment_config
"""

import sqlalchemy as sa
from alembic import op

revision = "0030_app_config_path"
down_revision = "0029_deployment_config"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "apps", sa.Column("config_path", sa.String(255), nullable=True, server_default="rivetr.toml")
    )


def downgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.drop_column("config_path")
