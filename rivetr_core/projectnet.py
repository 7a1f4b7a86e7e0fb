"""The private network of a project: every app, managed service and stack service of a project joins it and is
reachable there by its name (a stack service as ``<stack>-<service>``); see docs/compose.md, "Project networks".

One place creates it, for every kind of resource, so they all get the same labels and the same isolation: a
runtime offering ``ensure_project_network`` (both built-in ones) keeps it apart from every other project's
network on the host; one with only ``ensure_network`` gets a plain network (name resolution, the engine's own
isolation); one with neither runs everything on its default network (None).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import sqlalchemy as sa

log = logging.getLogger("rivetr.projectnet")

_locks: dict[str, asyncio.Lock] = {}


def project_network_name(project_id: str | None) -> str:
    return f"rivetr-net-{project_id or 'default'}"


async def ensure_project_network(runtime: Any, project_id: str | None, instance_id: str = "") -> str | None:
    """Create (idempotent) the project's network; its name, or None when the runtime has no networks."""
    name = project_network_name(project_id)
    ensure = getattr(runtime, "ensure_project_network", None) or getattr(runtime, "ensure_network", None)
    if ensure is None:
        return None
    labels = {"rivetr.project": project_id or ""}
    if instance_id:
        labels["rivetr.instance"] = instance_id
    # One creator at a time per network in this process (the firewall rewrite is the costly part).
    async with _locks.setdefault(name, asyncio.Lock()):
        await ensure(name, labels)
    return name


#: Whatever still belongs to a project keeps its network (Core SQL: no feature is loaded to ask). A null-safe
#: comparison (SQLite's ``IS``, PostgreSQL's ``IS NOT DISTINCT FROM``): apps without a project count for None.
_MEMBERS: dict[str, Any] = {
    table: sa.select(sa.literal_column("1"))
    .select_from(sa.table(table, sa.column("project_id", sa.String)))
    .where(sa.column("project_id", sa.String).is_not_distinct_from(sa.bindparam("id", type_=sa.String)))
    .limit(1)
    for table in ("apps", "services", "stacks")
}


async def release_project_network(db: Any, runtime: Any, project_id: str | None) -> bool:
    """Remove the project's network once no app, managed service or stack of the project is left (after a
    deletion); True when it went. An engine refuses while a container is attached: kept then, as when the
    runtime cannot remove networks. Networks would otherwise pile up until the engine's address pools run out
    (dockerd has ~30 by default)."""
    remove = getattr(runtime, "remove_network", None)
    if remove is None:
        return False
    async with db.session() as session:
        for query in _MEMBERS.values():
            if (await session.exec(query, params={"id": project_id})).first() is not None:
                return False
    name = project_network_name(project_id)
    async with _locks.setdefault(name, asyncio.Lock()):
        try:
            await remove(name)
        except Exception as exc:  # in use, or the engine is away: the next deletion tries again
            log.debug("network %s kept: %s", name, getattr(exc, "message", exc))
            return False
    return True
