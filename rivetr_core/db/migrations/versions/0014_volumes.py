"""apps: volumes and bind mounts per app, and the deploy strategy (placeholder: filled in by the change that
needs it)

Revision ID: 0014_volumes
Revises: 0013_app_selection
"""

revision = "0014_volumes"
down_revision = "0013_app_selection"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
