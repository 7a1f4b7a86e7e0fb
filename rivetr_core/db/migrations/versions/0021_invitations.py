"""invitations: one-time invitation and password-reset links (issue 20)

Revision ID: 0021_invitations
Revises: 0020_teams
"""

import sqlalchemy as sa  # noqa: F401 - used once the tables land
from alembic import op  # noqa: F401

revision = "0021_invitations"
down_revision = "0020_teams"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
