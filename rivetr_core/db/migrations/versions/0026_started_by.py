"""started_by: who asked for a deployment (a user, an API token, the admin token) on apps' deployments (issue 21)

Revision ID: 0026_started_by
Revises: 0025_stack_git
"""

import sqlalchemy as sa
from alembic import op

revision = "0026_started_by"
down_revision = "0025_stack_git"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (never batch mode): rebuilding deployments would cascade deletes under foreign keys.
    op.add_column("deployments", sa.Column("started_by", sa.String(length=200), nullable=True))


def downgrade() -> None:
    op.drop_column("deployments", "started_by")
