"""ops: the scheduler's jobs and their runs, and backups of Rivetr's own state (placeholder: filled in by the
change that needs it)

Revision ID: 0015_schedules
Revises: 0005_ops
"""

revision = "0015_schedules"
down_revision = "0005_ops"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
