"""app pages: an app's maintenance switch and its own 502/503/504 pages (issue 22)

Revision ID: 0027_app_pages
Revises: 0027_auto_domains
"""

import sqlalchemy as sa
from alembic import op

revision = "0027_app_pages"
down_revision = "0027_auto_domains"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "app_pages",
        sa.Column("app_id", sa.String(32), sa.ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("maintenance", sa.Boolean(), nullable=False),
        sa.Column("maintenance_message", sa.String(500), nullable=True),
        sa.Column("error_pages", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("app_pages")
