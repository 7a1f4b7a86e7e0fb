"""The settings an app's repository manages, for the dashboard's app pages (its forms disable them, its rows
say so): :func:`rivetr_core.iac.managed.managed_by_file`, reached through the read-model like the pages' other
data, and loaded with the first app page that asks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rivetr_core.db import Database
    from rivetr_core.iac.managed import ManagedByFile


async def managed_by_file(db: Database, app_id: str) -> ManagedByFile | None:
    """What the app's current deployment applied from its rivetr.toml; None when nothing."""
    from rivetr_core.iac.managed import managed_by_file as read

    return await read(db, app_id)


async def managed_schedules(db: Database, schedules: list[dict[str, Any]]) -> dict[str, ManagedByFile]:
    """Of the Backups page's schedule rows, those an app's rivetr.toml declares (by id), with its file; the iac
    module loads only once a row is an app's."""
    if not any(row.get("app_id") for row in schedules):
        return {}
    from rivetr_core.iac.managed import managed_schedules as read

    return await read(db, schedules)
