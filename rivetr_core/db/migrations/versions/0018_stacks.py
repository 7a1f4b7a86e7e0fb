"""stacks: compose stacks, their domains, deployments and build logs; proxy routes owned by a stack

Revision ID: 0018_stacks
Revises: 0017_services
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_stacks"
down_revision = "0017_services"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stacks",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(40), nullable=False, unique=True),
        sa.Column(
            "project_id", sa.String(32), sa.ForeignKey("projects.id", ondelete="RESTRICT"), nullable=True
        ),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("compose", sa.Text(), nullable=True),
        sa.Column("repo_url", sa.String(500), nullable=True),
        sa.Column("branch", sa.String(255), nullable=False),
        sa.Column("compose_path", sa.String(500), nullable=True),
        sa.Column("profiles", sa.JSON(), nullable=False),
        sa.Column("env_enc", sa.Text(), nullable=True),
        sa.Column("previews", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("preview_of", sa.String(32), sa.ForeignKey("stacks.id", ondelete="CASCADE"), nullable=True),
        sa.Column("pr_number", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("current_deployment_id", sa.String(32), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_stacks_project_id", "stacks", ["project_id"])
    op.create_index("ix_stacks_preview_of", "stacks", ["preview_of"])
    op.create_table(
        "stack_domains",
        sa.Column("domain", sa.String(253), primary_key=True),
        sa.Column("stack_id", sa.String(32), sa.ForeignKey("stacks.id", ondelete="CASCADE"), nullable=False),
        sa.Column("service", sa.String(63), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_stack_domains_stack_id", "stack_domains", ["stack_id"])
    op.create_table(
        "stack_deployments",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("stack_id", sa.String(32), sa.ForeignKey("stacks.id", ondelete="CASCADE"), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("trigger", sa.String(40), nullable=False),
        sa.Column("commit_sha", sa.String(64), nullable=True),
        sa.Column("commit_message", sa.String(2000), nullable=True),
        sa.Column("rollback_of", sa.String(32), nullable=True),
        sa.Column("compose", sa.Text(), nullable=True),
        sa.Column("services", sa.JSON(), nullable=False),
        sa.Column("networks", sa.JSON(), nullable=False),
        sa.Column("stopped", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("log_tail", sa.JSON(), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_stack_deployments_stack_id", "stack_deployments", ["stack_id"])
    op.create_index("ix_stack_deployments_status", "stack_deployments", ["status"])
    op.create_table(
        "stack_deployment_logs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "deployment_id",
            sa.String(32),
            sa.ForeignKey("stack_deployments.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("ts", sa.DateTime(), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
    )
    op.create_index("ix_stack_deployment_logs_deployment_id", "stack_deployment_logs", ["deployment_id"])
    with op.batch_alter_table("proxy_routes") as batch:
        batch.add_column(sa.Column("stack_id", sa.String(32), nullable=True))
        batch.create_index("ix_proxy_routes_stack_id", ["stack_id"])


def downgrade() -> None:
    with op.batch_alter_table("proxy_routes") as batch:
        batch.drop_index("ix_proxy_routes_stack_id")
        batch.drop_column("stack_id")
    op.drop_table("stack_deployment_logs")
    op.drop_table("stack_deployments")
    op.drop_table("stack_domains")
    op.drop_table("stacks")
