"""auto-deploy per app: git_app_settings.auto_deploy (branch and tag pushes deploy the app unless it is off)

Git providers' OAuth app settings edited in the dashboard need no table: they live in ``meta`` (one row per
provider, the client secret encrypted), see rivetr_core/gitproviders/settings.py.

Revision ID: 0025_provider_settings
Revises: 0024_passkeys
"""

import sqlalchemy as sa
from alembic import op

revision = "0025_provider_settings"
down_revision = "0024_passkeys"
branch_labels = None
#: git_app_settings is created on the git branch of the history (0006_git), not on this one.
depends_on = "0006_git"


def upgrade() -> None:
    op.add_column(
        "git_app_settings",
        sa.Column("auto_deploy", sa.Boolean(), nullable=False, server_default=sa.true()),
    )


def downgrade() -> None:
    op.drop_column("git_app_settings", "auto_deploy")
