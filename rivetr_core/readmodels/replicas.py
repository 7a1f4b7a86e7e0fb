"""An app's replicas for its page (issue 23): each container of the running deployment with the engine's state.
Loads the replicas code (rivetr_core.engine.replicas) only when asked, as the API's ``GET
/api/apps/{id}/replicas`` does; an app never deployed answers an empty list without touching the engine."""

from __future__ import annotations

from typing import Any


async def app_replicas(ctx: Any, app_id: str, *, stats: bool = False) -> list[dict[str, Any]]:
    """``[{"index", "container_id", "container_name", "upstream", "restart_count", "state"}, ...]``, replica 0
    first; empty when nothing is deployed. ``stats``: with ``cpu_percent``, ``memory_used``, ``memory_limit``."""
    from rivetr_core.engine.replicas import replica_states

    return await replica_states(ctx, app_id, stats=stats)
