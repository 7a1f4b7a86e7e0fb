"""passkeys: WebAuthn credentials of users as a second factor, and their ceremonies' challenges (issue 20)

Revision ID: 0024_passkeys
Revises: 0023_token_scopes
"""

import sqlalchemy as sa
from alembic import op

revision = "0024_passkeys"
down_revision = "0023_token_scopes"
branch_labels = None
depends_on = None


def _user_id() -> sa.Column:
    return sa.Column(
        "user_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )


def upgrade() -> None:
    op.create_table(
        "passkeys",
        sa.Column("id", sa.String(32), primary_key=True),
        _user_id(),
        sa.Column("credential_id", sa.String(1400), nullable=False, unique=True, index=True),
        sa.Column("public_key", sa.String(2048), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("transports", sa.JSON(), nullable=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
    )
    op.create_table(
        "passkey_challenges",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("challenge_hash", sa.String(64), nullable=False, unique=True, index=True),
        _user_id(),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("login_challenge_id", sa.String(32), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("passkey_challenges")
    op.drop_table("passkeys")
