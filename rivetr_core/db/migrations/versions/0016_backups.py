"""backups: destinations, runs, restores and schedules of volume and state backups (placeholder, filled next)

Revision ID: 0016_backups
Revises: 0014_volumes, 0015_schedules
"""

revision = "0016_backups"
down_revision = ("0014_volumes", "0015_schedules")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
