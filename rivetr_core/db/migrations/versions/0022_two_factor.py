"""two_factor: TOTP secrets (encrypted) and hashed recovery codes of users (issue 20)

Revision ID: 0022_two_factor
Revises: 0021_invitations
"""

import sqlalchemy as sa
from alembic import op

revision = "0022_two_factor"
down_revision = "0021_invitations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN, never a batch rebuild: a rebuild of users drops the old table, which cascades into every
    # row referencing it (sessions, tokens, team memberships) under foreign_keys=ON (see 0020_teams).
    op.add_column(
        "users", sa.Column("two_factor_enabled", sa.Boolean(), nullable=False, server_default=sa.false())
    )


def downgrade() -> None:
    op.drop_column("users", "two_factor_enabled")
