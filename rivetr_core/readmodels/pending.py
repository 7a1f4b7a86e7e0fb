"""What changed in an app since its running version started: the app page's "changes apply at the next
deployment" banner.

Read from the audit log, which records every successful change through the API with the app's id (every face
changes apps through the API: dashboard, CLI, scripts). That sees what the tables cannot: a deleted variable,
or a settings save (``apps.updated_at`` also moves when the app is stopped or its deployment switches). Only the
changes that wait for a deployment count: variables, settings, volumes, links.

The baseline is the newest deployment of the app that is running or on its way (a queued or building one will
pick the changes up); a failed or cancelled one applied nothing, so the changes stay pending after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import String, cast, func, select

from rivetr_core.db.engine import aware
from rivetr_core.models.apps import Deployment
from rivetr_core.models.ops import AuditEntry

if TYPE_CHECKING:
    from rivetr_core.db import Database

#: Audit actions (API endpoints) whose effect waits for the next deployment, and what the banner calls them.
CHANGE_ACTIONS: dict[str, str] = {
    "env_vars_api.create_env_var": "environment variables",
    "env_vars_api.update_env_var": "environment variables",
    "env_vars_api.delete_env_var": "environment variables",
    "env_vars_api.bulk_env_vars": "environment variables",
    "apps_api.update_app": "settings",
    "volumes_api.create_volume": "volumes",
    "volumes_api.update_volume": "volumes",
    "volumes_api.delete_volume": "volumes",
    "links_api.create_link": "links",
    "links_api.delete_link": "links",
}
#: Deployments that put nothing in place: changes made before them are still pending.
_APPLIED_NOTHING = ("failed", "cancelled", "superseded")


@dataclass(frozen=True, slots=True)
class PendingChanges:
    """``what``: the kinds changed, in :data:`CHANGE_ACTIONS`' order; ``since``: when the running (or coming)
    version started; ``last``: the latest change."""

    what: tuple[str, ...]
    since: datetime
    last: datetime


async def pending_changes(db: Database, app_id: str) -> PendingChanges | None:
    """The changes made to the app after its running (or coming) deployment started; None when there are none
    or nothing was ever deployed."""
    deployments = Deployment.__table__  # type: ignore[attr-defined]
    audit = AuditEntry.__table__  # type: ignore[attr-defined]
    baseline_stmt = select(func.max(func.coalesce(deployments.c.started_at, deployments.c.created_at))).where(
        deployments.c.app_id == app_id, deployments.c.status.not_in(_APPLIED_NOTHING)
    )
    async with db.engine.connect() as conn:
        baseline = (await conn.execute(baseline_stmt)).scalar()
        if baseline is None:
            return None
        if isinstance(baseline, str):  # SQLite's func.max() loses the column type: the stored text comes back
            baseline = datetime.fromisoformat(baseline)
        since = aware(baseline)
        rows = (
            await conn.execute(
                select(audit.c.action, func.max(audit.c.ts))
                .where(
                    audit.c.ts > since,
                    audit.c.status < 400,
                    audit.c.action.in_(list(CHANGE_ACTIONS)),
                    # The ids of the URL, as a small JSON object: its text holds the app id in quotes.
                    cast(audit.c.target, String).contains(f'"{app_id}"', autoescape=True),
                )
                .group_by(audit.c.action)
            )
        ).all()
    if not rows:
        return None
    kinds = {CHANGE_ACTIONS[action] for action, _ts in rows}
    last = max(aware(ts if isinstance(ts, datetime) else datetime.fromisoformat(ts)) for _a, ts in rows)
    ordered = tuple(dict.fromkeys(k for k in CHANGE_ACTIONS.values() if k in kinds))
    return PendingChanges(what=ordered, since=since, last=last)
