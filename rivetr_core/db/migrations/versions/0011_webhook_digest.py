"""git: webhook deliveries deduplicated by a digest of the signed body (placeholder: filled in by the change that needs it)

Revision ID: 0011_webhook_digest
Revises: 0010_preview_approval
"""

revision = "0011_webhook_digest"
down_revision = "0010_preview_approval"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
