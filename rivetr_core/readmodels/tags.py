"""The tags in use (``GET /api/tags``, the dashboard's tag filter): each tag with how many apps, services and
stacks hold it. ORM queries, so the request's team restriction applies (rivetr_core.authz.visibility): a member
counts only their team's resources. Feature code: the services and stacks models load on the first call only."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from sqlmodel import select

if TYPE_CHECKING:
    from rivetr_core.db import Database

KINDS = ("apps", "services", "stacks")


async def tag_counts(db: Database) -> list[dict[str, Any]]:
    """``[{"tag", "apps", "services", "stacks", "total"}]`` by tag, for the tags at least one visible resource
    holds (preview apps left out, like the app list)."""
    from rivetr_core.models.apps import App
    from rivetr_core.models.git import not_a_preview_app
    from rivetr_core.models.services import ManagedService
    from rivetr_core.models.stacks import Stack

    counts: dict[str, Counter[str]] = {}
    async with db.session() as session:
        queries = {
            "apps": select(App.tags).where(not_a_preview_app()),
            "services": select(ManagedService.tags),
            "stacks": select(Stack.tags).where(Stack.preview_of.is_(None)),  # type: ignore[union-attr]
        }
        for kind, query in queries.items():
            counts[kind] = Counter(t for tags in (await session.exec(query)).all() for t in tags or ())
    names = sorted(set().union(*counts.values()))
    return [
        {
            "tag": name,
            **{kind: counts[kind][name] for kind in KINDS},
            "total": sum(c[name] for c in counts.values()),
        }
        for name in names
    ]
