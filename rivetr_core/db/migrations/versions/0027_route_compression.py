"""route compression: a route key's own switch for response compression (issue 22)

``route_settings.compression`` (default on): off, the proxy passes that route's responses as the app sent them
even with ``[proxy] compression`` on.

Revision ID: 0027_route_compression
Revises: 0027_route_paths
"""

import sqlalchemy as sa
from alembic import op

revision = "0027_route_compression"
down_revision = "0027_route_paths"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "route_settings", sa.Column("compression", sa.Boolean(), nullable=False, server_default=sa.true())
    )


def downgrade() -> None:
    with op.batch_alter_table("route_settings") as batch:
        batch.drop_column("compression")
