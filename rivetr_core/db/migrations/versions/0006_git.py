"""git: webhook deliveries, per-app git settings, connected accounts, OAuth states, previews

Revision ID: 0006_git
Revises: 0001_core
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_git"
down_revision = "0001_core"
branch_labels = ("git",)
depends_on = "0002_apps"


def upgrade() -> None:
    op.create_table(
        "git_webhook_deliveries",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("provider", sa.String(40), nullable=False, index=True),
        sa.Column("event", sa.String(100)),
        sa.Column("kind", sa.String(20)),
        sa.Column("delivery_id", sa.String(200)),
        sa.Column("dedupe_key", sa.String(250), unique=True),
        sa.Column("outcome", sa.String(20), nullable=False, index=True),
        sa.Column("reason", sa.String(1000)),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("repository", sa.String(500)),
        sa.Column("ref", sa.String(255)),
        sa.Column("commit_sha", sa.String(64)),
        sa.Column("deployments", sa.JSON(), nullable=False),
        sa.Column("app_ids", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False, index=True),
    )
    op.create_table(
        "git_accounts",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("provider", sa.String(40), nullable=False, index=True),
        sa.Column("remote_id", sa.String(100), nullable=False),
        sa.Column("login", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255)),
        sa.Column("email", sa.String(255)),
        sa.Column("avatar_url", sa.String(1000)),
        sa.Column("access_token_enc", sa.Text(), nullable=False),
        sa.Column("refresh_token_enc", sa.Text()),
        sa.Column("token_type", sa.String(40), nullable=False),
        sa.Column("scope", sa.String(1000)),
        sa.Column("expires_at", sa.DateTime()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("provider", "remote_id", name="uq_git_accounts_provider_remote"),
    )
    op.create_table(
        "git_oauth_states",
        sa.Column("state", sa.String(100), primary_key=True),
        sa.Column("provider", sa.String(40), nullable=False),
        sa.Column("code_verifier_enc", sa.Text(), nullable=False),
        sa.Column("return_to", sa.String(500)),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "git_app_settings",
        sa.Column("app_id", sa.String(32), sa.ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("webhook_secret_enc", sa.Text()),
        sa.Column("follow_tags", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("tag_pattern", sa.String(255)),
        sa.Column("previews_enabled", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("preview_secrets", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column(
            "account_id", sa.String(32), sa.ForeignKey("git_accounts.id", ondelete="SET NULL"), index=True
        ),
        sa.Column("repo_full_name", sa.String(500)),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "git_previews",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("app_id", sa.String(32), nullable=False, index=True),  # no FK: see models.git.Preview
        sa.Column("preview_app_id", sa.String(32), index=True),
        sa.Column("provider", sa.String(40), nullable=False),
        sa.Column("pr_number", sa.Integer(), nullable=False),
        sa.Column("repo_full_name", sa.String(500)),
        sa.Column("head_ref", sa.String(255)),
        sa.Column("head_sha", sa.String(64)),
        sa.Column("is_fork", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("domain", sa.String(253), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("deployment_id", sa.String(32)),
        sa.Column("comment_id", sa.String(100)),
        sa.Column("error", sa.Text()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("app_id", "pr_number", name="uq_git_previews_app_pr"),
    )


def downgrade() -> None:
    for table in (
        "git_previews",
        "git_app_settings",
        "git_oauth_states",
        "git_accounts",
        "git_webhook_deliveries",
    ):
        op.drop_table(table)
