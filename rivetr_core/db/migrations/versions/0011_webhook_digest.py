"""git: webhook deliveries deduplicated by a digest of the signed body, and the sender's address

Revision ID: 0011_webhook_digest
Revises: 0010_preview_approval
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_webhook_digest"
down_revision = "0010_preview_approval"
branch_labels = None
depends_on = None

TABLE = "git_webhook_deliveries"


def upgrade() -> None:
    # Plain ADD COLUMN (nullable, no constraint) works on SQLite and PostgreSQL alike; uniqueness comes from an
    # index, which both can add to an existing table without rebuilding it.
    op.add_column(TABLE, sa.Column("digest_key", sa.String(120), nullable=True))
    op.add_column(TABLE, sa.Column("body_sha256", sa.String(64), nullable=True))
    op.add_column(TABLE, sa.Column("remote_addr", sa.String(64), nullable=True))
    op.create_index("uq_git_webhook_deliveries_digest_key", TABLE, ["digest_key"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_git_webhook_deliveries_digest_key", table_name=TABLE)
    with op.batch_alter_table(TABLE) as batch:
        batch.drop_column("remote_addr")
        batch.drop_column("body_sha256")
        batch.drop_column("digest_key")
