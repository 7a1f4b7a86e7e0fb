"""audit changes: the settings an audit entry changed, for entries not written by a request (issue 24)

``audit_log.changes`` (JSON list of lines, null for a request's entry, which never stores its body): a
deployment's rivetr.toml writes one entry with the settings it changed (``port 8000 -> 8080``; files hold no
secret values).

Revision ID: 0030_audit_changes
Revises: 0028_pg_bigint
"""

import sqlalchemy as sa
from alembic import op

revision = "0030_audit_changes"
down_revision = "0028_pg_bigint"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("audit_log", sa.Column("changes", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("changes")
