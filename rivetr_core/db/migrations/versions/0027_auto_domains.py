"""auto domains: an app's switch for its generated domain (issue 22)

``apps.auto_domain`` (default on): off, the app gets no <app>.<project>.<[proxy] base_domain> (or sslip.io)
name, only its explicit domains.

Revision ID: 0027_auto_domains
Revises: 0027_route_compression
"""

import sqlalchemy as sa
from alembic import op

revision = "0027_auto_domains"
down_revision = "0027_route_compression"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("apps", sa.Column("auto_domain", sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.drop_column("auto_domain")
