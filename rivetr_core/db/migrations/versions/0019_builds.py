"""builds: pre-built image apps and their registries' credentials, zero-config build overrides, build-scoped env
vars, image digests and no-cache builds of deployments

Revision ID: 0019_builds
Revises: 0018_stacks
"""

import sqlalchemy as sa
from alembic import op

revision = "0019_builds"
down_revision = "0018_stacks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registries",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(63), nullable=False, unique=True),
        sa.Column("server", sa.String(253), nullable=False, unique=True),
        sa.Column("username", sa.String(255), nullable=False),
        sa.Column("password_enc", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    with op.batch_alter_table("apps") as batch:
        batch.add_column(sa.Column("source_kind", sa.String(10), nullable=False, server_default="git"))
        batch.add_column(sa.Column("image", sa.String(500), nullable=True))
        batch.add_column(sa.Column("install_command", sa.String(2000), nullable=True))
        batch.add_column(sa.Column("build_command", sa.String(2000), nullable=True))
        batch.add_column(sa.Column("start_command", sa.String(2000), nullable=True))
        batch.add_column(sa.Column("base_image", sa.String(500), nullable=True))
    with op.batch_alter_table("env_vars") as batch:
        batch.add_column(sa.Column("scope", sa.String(10), nullable=False, server_default="runtime"))
    with op.batch_alter_table("deployments") as batch:
        batch.add_column(sa.Column("image_digest", sa.String(200), nullable=True))
        batch.add_column(sa.Column("no_cache", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.drop_column("no_cache")
        batch.drop_column("image_digest")
    with op.batch_alter_table("env_vars") as batch:
        batch.drop_column("scope")
    with op.batch_alter_table("apps") as batch:
        for column in (
            "base_image",
            "start_command",
            "build_command",
            "install_command",
            "image",
            "source_kind",
        ):
            batch.drop_column(column)
    op.drop_table("registries")
