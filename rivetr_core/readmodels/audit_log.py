"""What the dashboard's audit-log page shows beside the entries (which :class:`rivetr_core.audit.recorder.AuditLog`
pages, as for the API): the names of the resources the entries name, the actions and actors in use (its filters'
choices), and the ids a searched name stands for.

Every query is Core on plain tables (no feature models loaded for a page) under the request's team filter
(:func:`rivetr_core.authz.visibility.core_criteria`): a resource another team owns keeps its id, never shows its
name, and a team's admin is offered only the actions and actors of their team's entries.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from rivetr_core.authz.visibility import core_criteria

if TYPE_CHECKING:
    from rivetr_core.db import Database

#: URL parameter (an entry's ``target`` key) → the table of the resource it names. Their pages link by these.
RESOURCE_TABLES = {
    "app_id": "apps",
    "service_id": "services",
    "stack_id": "stacks",
    "project_id": "projects",
    "team_id": "teams",
}
# Columns the team filter reads, beside id and name.
_FILTER_COLUMNS = {"projects": ("team_id",), "teams": (), "apps": ("project_id",)}
_AUDIT = sa.table("audit_log", sa.column("action"), sa.column("actor"), sa.column("team_id"))
#: Choices a filter offers at most (actions are endpoint names: a few hundred at most).
CHOICES = 500


def _table(name: str) -> Any:
    extra = _FILTER_COLUMNS.get(name, ("project_id",))
    return sa.table(name, sa.column("id"), sa.column("name"), *(sa.column(c) for c in extra))


async def resource_names(
    db: Database, targets: Iterable[dict[str, Any]], team_ids: Iterable[str | None] = ()
) -> dict[str, dict[str, str]]:
    """Table → {id: name} for the ids ``targets`` (entries' ``target`` dicts) and ``team_ids`` name: one query
    per kind, whatever the number of entries. An id missing from the result no longer exists (or is not
    visible): the page shows the id without a link."""
    wanted: dict[str, set[str]] = {table: set() for table in RESOURCE_TABLES.values()}
    for target in targets:
        for key, value in target.items():
            if key in RESOURCE_TABLES and value:
                wanted[RESOURCE_TABLES[key]].add(str(value))
    wanted["teams"].update(t for t in team_ids if t)
    names: dict[str, dict[str, str]] = {table: {} for table in wanted}
    async with db.engine.connect() as conn:
        for name, ids in wanted.items():
            if not ids:
                continue
            table = _table(name)
            stmt = sa.select(table.c.id, table.c.name).where(table.c.id.in_(ids), *core_criteria(table))
            names[name] = {row[0]: row[1] for row in (await conn.execute(stmt)).all()}
    return names


async def ids_named(db: Database, name: str) -> list[str]:
    """The ids of the visible apps, services, stacks, projects and teams called ``name`` (names are unique per
    project, so several may share one)."""
    found: list[str] = []
    async with db.engine.connect() as conn:
        for table_name in RESOURCE_TABLES.values():
            table = _table(table_name)
            stmt = sa.select(table.c.id).where(table.c.name == name, *core_criteria(table)).limit(CHOICES)
            found += [row[0] for row in (await conn.execute(stmt)).all()]
    return found


async def filter_choices(db: Database) -> dict[str, list[str]]:
    """The distinct ``actions`` and ``actors`` of the entries the request may read (the filters' choices)."""
    choices: dict[str, list[str]] = {}
    async with db.engine.connect() as conn:
        for column in ("action", "actor"):
            col = _AUDIT.c[column]
            stmt = sa.select(col).where(*core_criteria(_AUDIT)).distinct().order_by(col).limit(CHOICES)
            choices[f"{column}s"] = [row[0] for row in (await conn.execute(stmt)).all()]
    return choices
