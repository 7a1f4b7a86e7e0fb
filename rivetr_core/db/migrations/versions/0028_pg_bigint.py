"""services.memory_limit as BIGINT on PostgreSQL: a managed service's memory limit above 2 GiB fits

SQLite stores any integer in an INTEGER column, so nothing changes there; 0017_services declared the column
INTEGER, which on PostgreSQL holds at most 2 GiB in bytes (``apps.memory_limit`` was BIGINT from the start).

Revision ID: 0028_pg_bigint
Revises: 0026_app_tasks
"""

import sqlalchemy as sa
from alembic import op

revision = "0028_pg_bigint"
down_revision = "0026_app_tasks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("services", "memory_limit", type_=sa.BigInteger(), existing_nullable=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("services", "memory_limit", type_=sa.Integer(), existing_nullable=True)
