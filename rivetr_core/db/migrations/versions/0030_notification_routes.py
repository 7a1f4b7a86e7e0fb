"""notification routes: a project's events routed to channels by name (issue 24, project files)

``notification_channels.routes`` (JSON, ``[{"project_id", "apps", "events"}]``): what each project routes to the
channel, set by ``PUT /api/projects/{id}/notification-routes/{channel_id}`` or a project file.
``notification_channels.routed_only``: the channel receives only what routes send it (not every event its
``events`` list allows).

Revision ID: 0030_notification_routes
Revises: 0029_deployment_config
"""

import sqlalchemy as sa
from alembic import op

revision = "0030_notification_routes"
down_revision = "0029_deployment_config"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "notification_channels", sa.Column("routes", sa.JSON(), nullable=False, server_default="[]")
    )
    op.add_column(
        "notification_channels",
        sa.Column("routed_only", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    with op.batch_alter_table("notification_channels") as batch:
        batch.drop_column("routed_only")
        batch.drop_column("routes")
