"""core baseline: instance metadata and proxy routes

Revision ID: 0001_core
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_core"
down_revision = None
branch_labels = ("core",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "meta",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.create_table(
        "proxy_routes",
        sa.Column("domain", sa.String(253), primary_key=True),
        sa.Column("upstreams", sa.JSON(), nullable=False),
        sa.Column("app_id", sa.String(64), nullable=True, index=True),
        sa.Column("https_redirect", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("hsts", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("proxy_routes")
    op.drop_table("meta")
