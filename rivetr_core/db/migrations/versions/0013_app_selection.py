"""apps: the builder and health check an app selects by name (placeholder: filled in by the change that needs it)

Revision ID: 0013_app_selection
Revises: 0012_app_host_limits
"""

revision = "0013_app_selection"
down_revision = "0012_app_host_limits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
