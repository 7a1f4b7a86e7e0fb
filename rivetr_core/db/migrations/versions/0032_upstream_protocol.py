"""upstream protocol: how the proxy talks to a route key's upstreams (issue 22, gRPC passthrough)

``route_settings.upstream_protocol``: ``http1`` (the default, HTTP/1.1) or ``h2c`` (HTTP/2 cleartext with prior
knowledge: HTTP/2 clients' streams are forwarded as streams, trailers included).

Revision ID: 0032_upstream_protocol
Revises: 0030_rolling_update
"""

import sqlalchemy as sa
from alembic import op

revision = "0032_upstream_protocol"
down_revision = "0030_rolling_update"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "route_settings",
        sa.Column("upstream_protocol", sa.String(8), nullable=False, server_default="http1"),
    )


def downgrade() -> None:
    with op.batch_alter_table("route_settings") as batch:
        batch.drop_column("upstream_protocol")
