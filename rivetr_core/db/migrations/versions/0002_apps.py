"""apps: projects, apps, app domains, env vars, ssh keys, deployments, deployment logs

Revision ID: 0002_apps
Revises: 0001_core
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_apps"
down_revision = "0001_core"
branch_labels = ("apps",)
depends_on = None


def _id() -> sa.Column:
    return sa.Column("id", sa.String(32), primary_key=True)


def upgrade() -> None:
    op.create_table(
        "projects",
        _id(),
        sa.Column("name", sa.String(63), nullable=False, unique=True),
        sa.Column("description", sa.String(1000), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "ssh_keys",
        _id(),
        sa.Column("name", sa.String(63), nullable=False, unique=True),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(100), nullable=False),
        sa.Column("private_key_enc", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "apps",
        _id(),
        sa.Column("name", sa.String(63), nullable=False, unique=True),
        sa.Column("project_id", sa.String(32), sa.ForeignKey("projects.id", ondelete="RESTRICT"), index=True),
        sa.Column("environment", sa.String(20), nullable=False, index=True),
        sa.Column("git_url", sa.String(2000), nullable=False),
        sa.Column("branch", sa.String(255), nullable=False),
        sa.Column("dockerfile", sa.String(500), nullable=False),
        sa.Column("build_context", sa.String(500), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("healthcheck_path", sa.String(500), nullable=False),
        sa.Column("healthcheck_status", sa.Integer()),
        sa.Column("healthcheck_timeout", sa.Float(), nullable=False),
        sa.Column("healthcheck_retries", sa.Integer(), nullable=False),
        sa.Column("healthcheck_interval", sa.Float(), nullable=False),
        sa.Column("cpu_limit", sa.Float()),
        sa.Column("memory_limit", sa.BigInteger()),
        sa.Column("ssh_key_id", sa.String(32), sa.ForeignKey("ssh_keys.id", ondelete="RESTRICT"), index=True),
        sa.Column("git_token_enc", sa.Text()),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("current_deployment_id", sa.String(32)),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "app_domains",
        sa.Column("domain", sa.String(253), primary_key=True),
        sa.Column(
            "app_id", sa.String(32), sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False, index=True
        ),
        sa.Column("position", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_table(
        "env_vars",
        _id(),
        sa.Column(
            "app_id", sa.String(32), sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False, index=True
        ),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("value_enc", sa.Text(), nullable=False),
        sa.Column("is_secret", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("app_id", "key", name="uq_env_vars_app_key"),
    )
    op.create_table(
        "deployments",
        _id(),
        sa.Column(
            "app_id", sa.String(32), sa.ForeignKey("apps.id", ondelete="CASCADE"), nullable=False, index=True
        ),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("trigger", sa.String(40), nullable=False),
        sa.Column("requested_commit", sa.String(64)),
        sa.Column("commit_sha", sa.String(64)),
        sa.Column("commit_message", sa.String(2000)),
        sa.Column("rollback_of", sa.String(32)),
        sa.Column("image", sa.String(500)),
        sa.Column("image_removed", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("container_id", sa.String(128)),
        sa.Column("container_name", sa.String(255)),
        sa.Column("upstream", sa.String(300)),
        sa.Column("error", sa.Text()),
        sa.Column("log_tail", sa.JSON(), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("restart_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime()),
        sa.Column("finished_at", sa.DateTime()),
    )
    op.create_table(
        "deployment_logs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "deployment_id",
            sa.String(32),
            sa.ForeignKey("deployments.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("ts", sa.DateTime(), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "deployment_logs",
        "deployments",
        "env_vars",
        "app_domains",
        "apps",
        "ssh_keys",
        "projects",
    ):
        op.drop_table(table)
