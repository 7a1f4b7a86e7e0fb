"""teams: teams, their members' roles, the team of each project, disabled users and server owners

Joins the accounts branch (users) and the apps branch (projects). Existing installs: a team "default" owns every
existing project, and every existing user becomes its owner and a server owner (before teams every user could do
everything; nobody loses a right). A fresh install gets the same empty default team; first-run setup makes the
first user its owner (rivetr_core.services.teams.first_owner_membership).

Revision ID: 0020_teams
Revises: 0019_builds, 0004_accounts
"""

import sqlalchemy as sa
from alembic import op

revision = "0020_teams"
down_revision = ("0019_builds", "0004_accounts")
branch_labels = None
depends_on = None

# Literal copies (a migration never imports application code, which changes after it is written).
DEFAULT_TEAM_ID = "default"


def upgrade() -> None:
    op.create_table(
        "teams",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(63), nullable=False, unique=True),
        sa.Column("require_2fa", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "team_members",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "team_id",
            sa.String(32),
            sa.ForeignKey("teams.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column(
            "user_id",
            sa.String(32),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("team_id", "user_id", name="uq_team_members_team_user"),
    )
    bind = op.get_bind()
    # Bound parameters for the times, not SQL functions: the same statements run on SQLite and PostgreSQL.
    bind.execute(
        sa.text(
            "INSERT INTO teams (id, name, require_2fa, created_at, updated_at) VALUES (:id, :name, :f, :t, :t)"
        ),
        {"id": DEFAULT_TEAM_ID, "name": "default", "f": False, "t": _utcnow()},
    )
    users = bind.execute(sa.text("SELECT id FROM users ORDER BY created_at, id")).scalars().all()
    for user_id in users:
        bind.execute(
            sa.text(
                "INSERT INTO team_members (id, team_id, user_id, role, created_at, updated_at) "
                "VALUES (:id, :team, :user, 'owner', :t, :t)"
            ),
            {"id": _new_id(), "team": DEFAULT_TEAM_ID, "user": user_id, "t": _utcnow()},
        )
    # Plain ADD COLUMN, never a batch rebuild, on both tables: SQLite runs migrations with foreign_keys=ON, and
    # a rebuild drops the old table, which cascades into the rows referencing it (sessions and tokens of users)
    # or is refused outright (apps, services and stacks of projects: ON DELETE RESTRICT).
    op.add_column("users", sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column(
        "users", sa.Column("is_server_owner", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    bind.execute(sa.text("UPDATE users SET is_server_owner = :t"), {"t": True})
    # The server default fills existing rows and stays: a project inserted by code that names no team lands in
    # the default team, as the API does. SQLite cannot ADD COLUMN a foreign key with a non-null default, so
    # there the team service keeps the reference valid (a team owning projects cannot be deleted, a project
    # names an existing team); PostgreSQL gets the real constraint.
    team_id = sa.Column("team_id", sa.String(32), nullable=False, server_default=DEFAULT_TEAM_ID)
    op.add_column("projects", team_id)
    op.create_index("ix_projects_team_id", "projects", ["team_id"])
    if bind.dialect.name != "sqlite":
        op.create_foreign_key(
            "fk_projects_team_id", "projects", "teams", ["team_id"], ["id"], ondelete="RESTRICT"
        )


def _utcnow():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.now(UTC).replace(tzinfo=None)  # stored naive in UTC, as the models store it


def _new_id() -> str:
    import uuid

    return uuid.uuid4().hex


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint("fk_projects_team_id", "projects", type_="foreignkey")
    op.drop_index("ix_projects_team_id", table_name="projects")
    # DROP COLUMN (SQLite >= 3.35) rather than a batch rebuild, for the reason upgrade() gives.
    op.drop_column("projects", "team_id")
    op.drop_column("users", "is_server_owner")
    op.drop_column("users", "disabled")
    op.drop_table("team_members")
    op.drop_table("teams")
