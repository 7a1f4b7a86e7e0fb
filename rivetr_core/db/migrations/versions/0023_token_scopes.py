"""token_scopes: API tokens' scopes, team and app restriction; sessions' current team (issue 20)

Revision ID: 0023_token_scopes
Revises: 0022_two_factor
"""

import sqlalchemy as sa
from alembic import op

revision = "0023_token_scopes"
down_revision = "0022_two_factor"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (never a batch rebuild, which cascades into referencing rows: see 0020_teams). Existing
    # tokens keep every right they had: scope "admin", no team, no restriction.
    op.add_column("api_tokens", sa.Column("scopes", sa.String(100), nullable=False, server_default="admin"))
    op.add_column("api_tokens", sa.Column("team_id", sa.String(32), nullable=True))
    op.add_column("api_tokens", sa.Column("app_ids", sa.JSON(), nullable=True))
    op.add_column("api_tokens", sa.Column("project_ids", sa.JSON(), nullable=True))
    op.add_column("user_sessions", sa.Column("current_team_id", sa.String(32), nullable=True))
    op.add_column("audit_log", sa.Column("team_id", sa.String(32), nullable=True))
    op.create_index("ix_audit_log_team_id", "audit_log", ["team_id"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_team_id", "audit_log")
    op.drop_column("audit_log", "team_id")
    op.drop_column("user_sessions", "current_team_id")
    for column in ("project_ids", "app_ids", "team_id", "scopes"):
        op.drop_column("api_tokens", column)
