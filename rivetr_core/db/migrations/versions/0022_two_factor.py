"""two_factor: TOTP secrets (encrypted) and hashed recovery codes of users (issue 20)

Revision ID: 0022_two_factor
Revises: 0021_invitations
"""

import sqlalchemy as sa  # noqa: F401 - used once the tables land
from alembic import op  # noqa: F401

revision = "0022_two_factor"
down_revision = "0021_invitations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
