"""apps: per-app HTTPS flags for the app's routes (HTTP→HTTPS redirect, HSTS)

Revision ID: 0008_apps_https_flags
Revises: 0007_apps_git_token_user
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_apps_https_flags"
down_revision = "0007_apps_git_token_user"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The defaults are what app routes got before the flags existed: redirect on, HSTS off.
    with op.batch_alter_table("apps") as batch:
        batch.add_column(sa.Column("https_redirect", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch.add_column(sa.Column("hsts", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.drop_column("hsts")
        batch.drop_column("https_redirect")
