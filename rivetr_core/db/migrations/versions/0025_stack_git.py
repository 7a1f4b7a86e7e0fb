"""stack_git: private repositories and a webhook secret of their own for compose stacks (issue 18)

Revision ID: 0025_stack_git
Revises: 0024_passkeys
"""

import sqlalchemy as sa
from alembic import op

revision = "0025_stack_git"
down_revision = "0024_passkeys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN, never a batch rebuild: rebuilding stacks drops the old table, which cascades into its
    # domains, deployments and previews under foreign_keys=ON (see 0020_teams). SQLite cannot add a foreign
    # key with ADD COLUMN, so there the SSH key service keeps ssh_key_id valid; PostgreSQL gets the constraint.
    bind = op.get_bind()
    op.add_column("stacks", sa.Column("ssh_key_id", sa.String(32), nullable=True))
    op.create_index("ix_stacks_ssh_key_id", "stacks", ["ssh_key_id"])
    op.add_column("stacks", sa.Column("git_token_enc", sa.String(), nullable=True))
    op.add_column("stacks", sa.Column("git_token_user", sa.String(100), nullable=True))
    op.add_column("stacks", sa.Column("webhook_secret_enc", sa.String(), nullable=True))
    if bind.dialect.name != "sqlite":
        op.create_foreign_key(
            "fk_stacks_ssh_key_id", "stacks", "ssh_keys", ["ssh_key_id"], ["id"], ondelete="RESTRICT"
        )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        op.drop_constraint("fk_stacks_ssh_key_id", "stacks", type_="foreignkey")
    op.drop_index("ix_stacks_ssh_key_id", "stacks")
    for column in ("webhook_secret_enc", "git_token_user", "git_token_enc", "ssh_key_id"):
        op.drop_column("stacks", column)
