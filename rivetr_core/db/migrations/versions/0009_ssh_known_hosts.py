"""git: pinned SSH host keys per git host (placeholder: filled in by the change that needs it)

Revision ID: 0009_ssh_known_hosts
Revises: 0006_git
"""

revision = "0009_ssh_known_hosts"
down_revision = "0006_git"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
