"""git: approval state of fork previews (placeholder: filled in by the change that needs it)

Revision ID: 0010_preview_approval
Revises: 0009_ssh_known_hosts
"""

revision = "0010_preview_approval"
down_revision = "0009_ssh_known_hosts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
