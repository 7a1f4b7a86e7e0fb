"""A managed service as a database row only (no container work), for tests of lists, filters and isolation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


async def stored_service(
    ctx: Any, name: str, *, project_id: str | None = None, tags: Sequence[str] = (), **fields: Any
) -> Any:
    """A stopped redis service named ``name`` (``fields`` override any column); returns the committed row."""
    from rivetr_core.models.services import ManagedService

    row = ManagedService(
        **{
            "name": name,
            "project_id": project_id,
            "type": "redis",
            "version": "7",
            "image": "docker.io/library/redis:7",
            "credentials_enc": ctx.secrets.encrypt("{}"),
            "status": "stopped",
            "desired_state": "stopped",
            "tags": list(tags),
            **fields,
        }
    )
    async with ctx.db.session() as session:
        session.add(row)
        await session.commit()
        await session.refresh(row)
    return row
