"""tls: certificates (ACME and custom) and ACME accounts

Revision ID: 0003_tls
Revises: 0001_core
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_tls"
down_revision = "0001_core"
branch_labels = ("tls",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "certificates",
        sa.Column("domain", sa.String(253), primary_key=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("cert_pem", sa.Text(), nullable=True),
        sa.Column("key_encrypted", sa.Text(), nullable=True),
        sa.Column("issuer", sa.String(255), nullable=True),
        sa.Column("names", sa.Text(), nullable=True),
        sa.Column("not_before", sa.DateTime(), nullable=True),
        sa.Column("not_after", sa.DateTime(), nullable=True),
        sa.Column("fingerprint", sa.String(64), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("issued_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "acme_accounts",
        sa.Column("directory_url", sa.String(500), primary_key=True),
        sa.Column("key_encrypted", sa.Text(), nullable=False),
        sa.Column("account_url", sa.String(500), nullable=True),
        sa.Column("email", sa.String(255), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("acme_accounts")
    op.drop_table("certificates")
