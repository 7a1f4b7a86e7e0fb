"""tags: a JSON list of tags on apps, managed services and stacks (issue 21)

Revision ID: 0024_tags
Revises: 0023_token_scopes
"""

import sqlalchemy as sa
from alembic import op

revision = "0024_tags"
down_revision = "0023_token_scopes"
branch_labels = None
depends_on = None

_TABLES = ("apps", "services", "stacks")


def upgrade() -> None:
    # Plain ADD COLUMN (never batch mode): rebuilding apps or projects would cascade deletes under foreign keys.
    for table in _TABLES:
        op.add_column(table, sa.Column("tags", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    for table in _TABLES:
        op.drop_column(table, "tags")
