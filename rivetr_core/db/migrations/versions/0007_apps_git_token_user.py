"""apps: the user name an app's HTTPS clone token goes with (GitLab ``oauth2``, Bitbucket ``x-token-auth``)

Revision ID: 0007_apps_git_token_user
Revises: 0002_apps
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_apps_git_token_user"
down_revision = "0002_apps"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL: the askpass default (``x-access-token``, GitHub's), what every existing app cloned with.
    with op.batch_alter_table("apps") as batch:
        batch.add_column(sa.Column("git_token_user", sa.String(100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.drop_column("git_token_user")
