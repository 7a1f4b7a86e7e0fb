"""token_scopes: API tokens' scopes, team and app restriction; sessions' current team (issue 20)

Revision ID: 0023_token_scopes
Revises: 0022_two_factor
"""

import sqlalchemy as sa  # noqa: F401 - used once the tables land
from alembic import op  # noqa: F401

revision = "0023_token_scopes"
down_revision = "0022_two_factor"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
