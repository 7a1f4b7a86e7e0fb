"""git: approval state of fork previews (head repository, approved commit, reason of a held preview)

Revision ID: 0010_preview_approval
Revises: 0009_ssh_known_hosts
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_preview_approval"
down_revision = "0009_ssh_known_hosts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # All nullable: existing previews were built before approvals existed (NULL approved_sha means a fork's
    # next push waits for approval under the new default policy).
    with op.batch_alter_table("git_previews") as batch:
        batch.add_column(sa.Column("head_repo_url", sa.String(1000), nullable=True))
        batch.add_column(sa.Column("approved_sha", sa.String(64), nullable=True))
        batch.add_column(sa.Column("reason", sa.String(500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("git_previews") as batch:
        batch.drop_column("reason")
        batch.drop_column("approved_sha")
        batch.drop_column("head_repo_url")
