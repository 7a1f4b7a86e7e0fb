"""The private network of a project: every app, managed service and stack service of a project joins it and is
reachable there by its name (a stack service as ``<stack>-<service>``); see docs/compose.md, "Project networks".

One place creates it, for every kind of resource, so they all get the same labels and the same isolation: a
runtime offering ``ensure_project_network`` (both built-in ones) keeps it apart from every other project's
network on the host; one with only ``ensure_network`` gets a plain network (name resolution, the engine's own
isolation); one with neither runs everything on its default network (None).
"""

from __future__ import annotations

import asyncio
from typing import Any

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
