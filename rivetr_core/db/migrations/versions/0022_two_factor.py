"""two_factor: TOTP secrets (encrypted) and hashed recovery codes of users (issue 20)

Also the pending second steps of logins (``login_challenges``): in the database rather than in the process, so a
restart between the two steps, or a second control-plane process, does not lose them.

Revision ID: 0022_two_factor
Revises: 0021_invitations
"""

import sqlalchemy as sa
from alembic import op

revision = "0022_two_factor"
down_revision = "0021_invitations"
branch_labels = None
depends_on = None


def _user_id(*, primary_key: bool = False) -> sa.Column:
    return sa.Column(
        "user_id",
        sa.String(32),
        sa.ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        primary_key=primary_key,
        index=not primary_key,
    )


def upgrade() -> None:
    # Plain ADD COLUMN, never a batch rebuild: a rebuild of users drops the old table, which cascades into every
    # row referencing it (sessions, tokens, team memberships) under foreign_keys=ON (see 0020_teams).
    op.add_column(
        "users", sa.Column("two_factor_enabled", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.create_table(
        "user_totp",
        _user_id(primary_key=True),
        sa.Column("secret", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(), nullable=True),
        sa.Column("last_used_step", sa.BigInteger(), nullable=True),
    )
    op.create_table(
        "recovery_codes",
        sa.Column("id", sa.String(32), primary_key=True),
        _user_id(),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
    )
    op.create_table(
        "login_challenges",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True, index=True),
        _user_id(),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_table("login_challenges")
    op.drop_table("recovery_codes")
    op.drop_table("user_totp")
    op.drop_column("users", "two_factor_enabled")
