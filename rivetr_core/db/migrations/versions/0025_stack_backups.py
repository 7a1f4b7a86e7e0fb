"""stack backups: backups, restores and backup schedules of a compose stack's named volumes (issue 18)

Revision ID: 0025_stack_backups
Revises: 0024_tags
"""

import sqlalchemy as sa
from alembic import op

revision = "0025_stack_backups"
down_revision = "0024_tags"
branch_labels = None
depends_on = None

#: table -> (column, what deleting the stack does to the row): a backup and a restore outlive their stack (the
#: archive can still be restored into another stack), a schedule goes with it.
_COLUMNS = (
    ("backups", "SET NULL"),
    ("backup_restores", "SET NULL"),
    ("backup_schedules", "CASCADE"),
)


def upgrade() -> None:
    bind = op.get_bind()
    for table, ondelete in _COLUMNS:
        # Plain ADD COLUMN, never a batch rebuild (a rebuild of backups would cascade into backup_restores under
        # foreign_keys=ON). SQLite accepts a REFERENCES clause on ADD COLUMN when the default is NULL, which
        # alembic's add_column does not emit there; PostgreSQL gets the same constraint by name.
        if bind.dialect.name == "sqlite":
            op.execute(
                f"ALTER TABLE {table} ADD COLUMN stack_id VARCHAR(32) "
                f"REFERENCES stacks (id) ON DELETE {ondelete}"
            )
        else:
            op.add_column(table, sa.Column("stack_id", sa.String(32), nullable=True))
            op.create_foreign_key(
                f"fk_{table}_stack_id", table, "stacks", ["stack_id"], ["id"], ondelete=ondelete
            )
        op.create_index(f"ix_{table}_stack_id", table, ["stack_id"])
    op.add_column("backups", sa.Column("stack_name", sa.String(40), nullable=True))


def downgrade() -> None:
    op.drop_column("backups", "stack_name")
    for table, _ondelete in reversed(_COLUMNS):
        op.drop_index(f"ix_{table}_stack_id", table)
        # SQLite cannot drop a column a foreign key uses: batch mode copies the table without it.
        with op.batch_alter_table(table) as batch:
            batch.drop_column("stack_id")
