"""app placement: swarm placement constraints per app (issue 23)

``apps.placement``: a JSON list of constraints (``["node.labels.tier == web"]``), ``[]`` by default; the swarm
runtime sets them as the service's ``Placement.Constraints``, the single-host runtimes ignore them.

Revision ID: 0031_app_placement
Revises: 0030_load_balancer
"""

import sqlalchemy as sa
from alembic import op

revision = "0031_app_placement"
down_revision = "0030_load_balancer"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (never batch mode): rebuilding apps would cascade deletes under foreign keys.
    op.add_column("apps", sa.Column("placement", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    op.drop_column("apps", "placement")
