"""apps: per-app host protection (memory limit, log rotation, OOM score) (placeholder: filled in by the change that needs it)

Revision ID: 0012_app_host_limits
Revises: 0008_apps_https_flags
"""

revision = "0012_app_host_limits"
down_revision = "0008_apps_https_flags"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
