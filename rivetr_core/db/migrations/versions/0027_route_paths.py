"""route paths: per-route settings (prefix stripping, redirects, basic auth) by route key (issue 22)

A route's key is its domain, followed by its path prefix unless that is ``/`` (``api.example.com/v1``). The
key columns that exist (``proxy_routes.domain``, ``app_domains.domain``, ``stack_domains.domain``) hold it as
they are, so the uniqueness of a domain across apps becomes the uniqueness of (domain, prefix) without
rebuilding those tables.

Revision ID: 0027_route_paths
Revises: 0026_started_by
"""

import sqlalchemy as sa
from alembic import op

revision = "0027_route_paths"
down_revision = "0026_started_by"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "route_settings",
        sa.Column("key", sa.String(600), primary_key=True),
        sa.Column("strip_prefix", sa.Boolean(), nullable=False),
        sa.Column("redirect_www", sa.String(8), nullable=True),
        sa.Column("redirects", sa.JSON(), nullable=False),
        sa.Column("auth_realm", sa.String(200), nullable=True),
        sa.Column("auth_users_enc", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("route_settings")
